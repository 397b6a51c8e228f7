"""The feature transform and nearest-centroid assignment in pure numpy/pandas.

This module is shipped inside every logged segment model (MLflow ``code_paths``) and
imports nothing from bigseg, Spark or FAISS: a model loads and predicts wherever numpy,
pandas and MLflow are installed. It reproduces, from the feature metadata JSON,
``bigseg.features.transform``'s Spark columns, per feature in vector order:

1. impute: a missing value (null/NaN) becomes the fitted value; an indicator column is 1
   where its source feature was missing (read from the input when it is already there);
2. log1p for skewed features when the build used it, negatives clipped to 0;
3. ``(x - center) / scale * weight``, computed in float64 then cast to float32, as
   Spark's ``array<float>`` column is;
4. optional PCA: ``(x - mean) @ components.T``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"
DISTANCE = "distance"


def vector_entries(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metadata entries of the features in the vector, in vector order."""
    return [dict(e) for e in metadata["features"] if e.get("in_vector")]


def indicator_sources(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Indicator name -> the feature whose missingness defines it (its first declarer)."""
    sources: dict[str, str] = {}
    for e in metadata["features"]:
        if e.get("indicator") and e["indicator"] not in sources:
            sources[e["indicator"]] = e["name"]
    return sources


def input_columns(metadata: Mapping[str, Any]) -> list[str]:
    """The raw columns a caller provides: vector features that are not indicators, plus
    the sources of the vector's indicators (indicators are derived when absent)."""
    sources = indicator_sources(metadata)
    needed: list[str] = []
    for e in vector_entries(metadata):
        name = sources.get(e["name"], e["name"])
        if name not in needed:
            needed.append(name)
    return needed


def indicator_columns(metadata: Mapping[str, Any]) -> list[str]:
    """The vector's missing-value indicators: optional inputs. Given, they are used as
    they are (rows already imputed, as in a FeatureSet's ``df``); absent, they are
    derived from their source feature's missing values."""
    sources = indicator_sources(metadata)
    return [e["name"] for e in vector_entries(metadata) if e["name"] in sources]


def _missing(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").isna().to_numpy()


def transform_frame(frame: pd.DataFrame, metadata: Mapping[str, Any]) -> np.ndarray:
    """float32 (n, d) feature vectors of ``frame``'s rows, as the Spark build makes them.

    Raises ValueError naming the columns that are missing, and the rows whose value is
    missing for a feature that may not be imputed (policy ``never``).
    """
    entries = vector_entries(metadata)
    if not entries:
        raise ValueError("feature metadata has no feature in the vector (in_vector)")
    sources = indicator_sources(metadata)
    absent = [c for c in input_columns(metadata) if c not in frame.columns]
    if absent:
        raise ValueError(
            f"input lacks feature columns {absent}; the model needs {input_columns(metadata)}"
        )
    by_name = {e["name"]: e for e in metadata["features"]}
    use_log1p = bool(metadata.get("config", {}).get("log1p", True))
    n = len(frame)
    out = np.empty((n, len(entries)), dtype=np.float64)
    for j, e in enumerate(entries):
        name = e["name"]
        if name in sources and name not in frame.columns:
            # An indicator the caller did not compute: 1 where its source is missing.
            x = _missing(frame[sources[name]]).astype(np.float64)
        else:
            x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64,
                                                                    na_value=np.nan)
            impute = (by_name.get(name) or e).get("impute") or {}
            if impute.get("strategy", "never") != "never":
                x = np.where(np.isnan(x), float(impute["value"] or 0.0), x)
            elif np.isnan(x).any():
                rows = np.flatnonzero(np.isnan(x))[:5].tolist()
                raise ValueError(
                    f"feature {name!r} is missing at rows {rows} and its impute policy is "
                    f"'never'; give every row a value"
                )
        if use_log1p and e.get("log1p"):
            x = np.log1p(np.maximum(x, 0.0))
        scale = e.get("scale") or {"center": 0.0, "scale": 1.0}
        out[:, j] = (x - float(scale["center"])) / float(scale["scale"]) * float(
            e.get("weight", 1.0))
    vectors = out.astype(np.float32)
    pca = metadata.get("pca")
    if pca:
        mean = np.asarray(pca["mean"], dtype=np.float64)
        components = np.asarray(pca["components"], dtype=np.float64)
        vectors = ((vectors.astype(np.float64) - mean) @ components.T).astype(np.float32)
    return vectors


def nearest(
    vectors: np.ndarray, centroids: np.ndarray, spherical: bool = False, block: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """(index, distance) of each row's nearest centroid.

    Euclidean distance, or ``1 - cos`` for spherical (cosine) models, as the Spark model
    reports them. Computed in float64 by blocks of rows, so memory stays at block x k.
    """
    X = np.asarray(vectors, dtype=np.float64)
    C = np.asarray(centroids, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != C.shape[1]:
        raise ValueError(f"vectors of shape {X.shape} do not match centroids {C.shape}")
    if spherical:
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms == 0, 1.0, norms)
    c2 = (C * C).sum(axis=1)
    labels = np.empty(X.shape[0], dtype=np.int64)
    dist = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], block):
        x = X[start:start + block]
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, clipped at 0 against rounding.
        sq = np.maximum((x * x).sum(axis=1, keepdims=True) - 2.0 * x @ C.T + c2, 0.0)
        idx = sq.argmin(axis=1)
        labels[start:start + block] = idx
        best = sq[np.arange(len(idx)), idx]
        dist[start:start + block] = best / 2.0 if spherical else np.sqrt(best)
    return labels, dist


def assign_frame(
    frame: pd.DataFrame,
    metadata: Mapping[str, Any],
    centroids: np.ndarray,
    segment_ids: Sequence[int],
    segment_names: Sequence[str],
    spherical: bool = False,
) -> pd.DataFrame:
    """``segment_id``, ``segment_name`` and ``distance`` for every row of ``frame``."""
    idx, dist = nearest(transform_frame(frame, metadata), centroids, spherical)
    ids = np.asarray(segment_ids, dtype=np.int64)
    labels = np.asarray(segment_names, dtype=object)
    return pd.DataFrame(
        {SEGMENT_ID: ids[idx], SEGMENT_NAME: labels[idx], DISTANCE: dist},
        index=frame.index,
    )
