"""Empty-cluster repair: split the largest cluster, as FAISS does.

A centroid that received no (weighted) point is moved onto a copy of the centroid with
the largest count; the two copies are pushed apart symmetrically and the count is split
between them, so the next assignment divides that cluster in two.

The repair reads only (seed, iteration, global counts, centroids): every participant of a
distributed fit holds the same values after the allreduce and therefore repairs
identically, without exchanging anything more.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_empty_clusters", "RELATIVE_STEP"]

# FAISS moves the two copies by a factor 1 +- 1/1024 per coordinate. A multiplicative
# step cannot separate copies of a centroid that has zero coordinates (e.g. at the
# origin), so bigseg steps additively by 1/1024 of the data's spread instead.
RELATIVE_STEP = 1.0 / 1024.0


def _direction(seed: int, iteration: int, cluster: int, n_features: int) -> np.ndarray:
    """A unit vector that depends only on (seed, iteration, cluster)."""
    rng = np.random.default_rng([seed, iteration, cluster])
    u = rng.standard_normal(n_features)
    return u / np.linalg.norm(u)


def split_empty_clusters(
    centroids: np.ndarray,
    counts: np.ndarray,
    *,
    seed: int,
    iteration: int,
    scale: float,
) -> int:
    """Repair, in place, every centroid whose count is 0; return how many were repaired.

    ``centroids`` float64 (k, d) and ``counts`` float64 (k,) are modified: each empty
    centroid (in index order) takes the place of half of the currently largest cluster
    (lowest index on ties). ``scale`` is the data's spread (root of the mean per-feature
    variance) that sets the size of the symmetric step.
    """
    empty = np.flatnonzero(counts <= 0)
    if empty.size == 0:
        return 0
    n_features = centroids.shape[1]
    step = RELATIVE_STEP * (scale if scale > 0 else 1.0)
    for ci in empty:
        cj = int(np.argmax(counts))  # argmax returns the first maximum: deterministic
        if counts[cj] <= 0:
            break  # nothing left to split (cannot happen with a positive total weight)
        delta = step * _direction(seed, iteration, int(ci), n_features)
        centroids[ci] = centroids[cj] + delta
        centroids[cj] = centroids[cj] - delta
        counts[ci] = counts[cj] / 2.0
        counts[cj] -= counts[ci]
    return int(empty.size)
