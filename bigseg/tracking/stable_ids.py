"""Stable segment ids: a new version's segments inherit the ids and names of the
previous version's segments they correspond to.

Correspondence is an optimal assignment (Hungarian method, scipy's
``linear_sum_assignment``) on the euclidean distances between the two versions'
centroids in one common feature space; pairs further apart than ``max_distance`` are not
matched. Unmatched new segments get fresh ids (above every id used before) and keep the
names they were given.

Centroids of two versions live in different spaces when the scaler was refitted:
:func:`to_reference_space` moves centroids into the previous version's space through the
unscaled (log1p'd) feature values, on the features both versions have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class SegmentMatch:
    """Ids and names of the new segments (centroid order) and how they were matched.

    ``matched``: new index -> previous index; ``distances``: new index -> centroid
    distance of the match.
    """

    segment_ids: list[int]
    segment_names: list[str]
    matched: dict[int, int]
    distances: dict[int, float]

    @property
    def new_ids(self) -> list[int]:
        """Ids given to segments that match no previous segment."""
        return [sid for i, sid in enumerate(self.segment_ids) if i not in self.matched]


def match_segments(
    previous_centroids: np.ndarray,
    previous_ids: Sequence[int],
    previous_names: Sequence[str],
    centroids: np.ndarray,
    names: Sequence[str] | None = None,
    max_distance: float | None = None,
    next_id: int | None = None,
) -> SegmentMatch:
    """Carry ids and names from the previous version's segments to the new ones.

    ``names``: the new segments' own names, used for unmatched segments (default
    ``segment_<id>``). ``next_id``: the first fresh id (default: one above every previous
    id; pass a higher one when older versions used more ids, so an id never comes back).
    """
    prev = np.asarray(previous_centroids, dtype=np.float64)
    new = np.asarray(centroids, dtype=np.float64)
    if prev.ndim != 2 or new.ndim != 2 or prev.shape[1] != new.shape[1]:
        raise ValueError(
            f"centroids of shapes {prev.shape} and {new.shape} should be matrices with the "
            f"same number of columns (one common feature space)"
        )
    if len(previous_ids) != prev.shape[0] or len(previous_names) != prev.shape[0]:
        raise ValueError(
            f"previous_ids ({len(previous_ids)}) and previous_names ({len(previous_names)}) "
            f"should have one entry per previous centroid ({prev.shape[0]})"
        )
    if names is not None and len(names) != new.shape[0]:
        raise ValueError(f"names has {len(names)} entries; there are {new.shape[0]} centroids")
    if max_distance is not None and not max_distance >= 0:
        raise ValueError(f"max_distance={max_distance} should be >= 0 or None")
    cost = np.sqrt(((new[:, None, :] - prev[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    matched, distances = {}, {}
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if max_distance is None or cost[r, c] <= max_distance:
            matched[r] = c
            distances[r] = float(cost[r, c])
    fresh = next_id if next_id is not None else max([int(i) for i in previous_ids] + [-1]) + 1
    ids: list[int] = []
    labels: list[str] = []
    for i in range(new.shape[0]):
        if i in matched:
            ids.append(int(previous_ids[matched[i]]))
            labels.append(str(previous_names[matched[i]]))
        else:
            ids.append(fresh)
            labels.append(str(names[i]) if names is not None else f"segment_{fresh}")
            fresh += 1
    return SegmentMatch(ids, labels, matched, distances)


def first_version_ids(k: int, names: Sequence[str] | None = None) -> SegmentMatch:
    """Ids 0..k-1 for the first version of a segmentation (nothing to match)."""
    labels = [str(n) for n in names] if names is not None else [f"segment_{i}" for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"names has {len(labels)} entries; there are {k} segments")
    return SegmentMatch(list(range(k)), labels, {}, {})


def _vector(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    if metadata.get("pca"):
        raise ValueError(
            "centroids of a PCA-projected model cannot be moved to another feature space; "
            "match such versions with the same feature metadata"
        )
    return [e for e in metadata["features"] if e.get("in_vector")]


def to_reference_space(
    centroids: np.ndarray, metadata: Mapping[str, Any], reference: Mapping[str, Any]
) -> tuple[np.ndarray, list[str]]:
    """Centroids of a model with ``metadata`` expressed in ``reference``'s feature space.

    Each coordinate is unscaled with its own centre/scale/weight and rescaled with the
    reference's, so both versions' centroids are measured with the same ruler. Returns
    the moved centroids and the names of the shared features (the columns kept, in the
    reference's order); the reference centroids must be restricted to the same columns
    (:func:`select_features`). A feature of weight 0 carries no information and is left
    out.
    """
    own = {e["name"]: (j, e) for j, e in enumerate(_vector(metadata))}
    ref = _vector(reference)
    C = np.asarray(centroids, dtype=np.float64)
    if C.ndim != 2 or C.shape[1] != len(own):
        raise ValueError(f"centroids of shape {C.shape} should have {len(own)} columns")
    shared, cols = [], []
    for e in ref:
        if e["name"] not in own:
            continue
        j, mine = own[e["name"]]
        if not mine.get("weight", 1.0) or not e.get("weight", 1.0):
            continue
        s, r = mine.get("scale") or {}, e.get("scale") or {}
        raw = C[:, j] / mine.get("weight", 1.0) * s.get("scale", 1.0) + s.get("center", 0.0)
        cols.append((raw - r.get("center", 0.0)) / r.get("scale", 1.0) * e.get("weight", 1.0))
        shared.append(e["name"])
    if not shared:
        raise ValueError("the two versions share no weighted feature: they cannot be matched")
    return np.stack(cols, axis=1), shared


def select_features(
    centroids: np.ndarray, metadata: Mapping[str, Any], features: Sequence[str]
) -> np.ndarray:
    """The columns of ``centroids`` (in ``metadata``'s vector order) named ``features``."""
    order = {e["name"]: j for j, e in enumerate(_vector(metadata))}
    missing = [f for f in features if f not in order]
    if missing:
        raise ValueError(f"features {missing} are not in the model's vector")
    return np.asarray(centroids, dtype=np.float64)[:, [order[f] for f in features]]
