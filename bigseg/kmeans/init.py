"""Initial centroids: greedy k-means++ and uniform random choice.

Both are deterministic given ``seed`` and the order of ``X``'s rows. The Spark layer
draws a sample whose content and order do not depend on partitioning and seeds from it
here, so the result does not depend on partitioning either.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from bigseg.kmeans.validation import check_array, check_n_clusters, check_sample_weight

__all__ = ["kmeans_plusplus", "random_init"]


def _row_sqnorms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X, dtype=np.float32)


def _sqdist_to(XT_aug, x_sqnorm, points) -> np.ndarray:
    """Squared distances (m, n) float32 from each of ``points`` (m, d) to every point.

    ``XT_aug`` is X transposed, C-contiguous, with a last row of ones (made once per
    seeding), so one GEMM with rows ``[-2 p, ||p||^2]`` yields ``||p||^2 - 2 <x, p>`` for
    all m candidates in a single pass over the data; adding ``||x||^2`` finishes it.
    Values may round slightly below 0; callers take a minimum with non-negative
    distances, which clamps them where it matters.
    """
    m, d = points.shape
    lhs = np.empty((m, d + 1), dtype=np.float32)
    np.multiply(points, -2.0, out=lhs[:, :d])
    lhs[:, d] = _row_sqnorms(points)
    d2 = lhs @ XT_aug
    d2 += x_sqnorm
    return d2


def kmeans_plusplus(
    X,
    n_clusters: int,
    *,
    sample_weight=None,
    seed: int = 0,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; scikit-learn's variant).

    Each new centroid is the best of ``n_local_trials`` (default ``2 + log k``) candidates
    drawn with probability proportional to ``weight * D^2``, where D is the distance to
    the nearest centroid chosen so far. The candidates' distances to all points come from
    one float32 matrix product per step (a single pass over X): k=1024 on 100k x 32
    points costs ~3 s of CPU time on one core of the 2-core machine kind (scikit-learn's
    kmeans_plusplus: ~40 s). Returns float32 (n_clusters, n_features).

    When X has fewer distinct points than ``n_clusters`` the potential drops to zero;
    the remaining centroids are then drawn by weight alone (duplicates, which ``lloyd``
    repairs), rather than failing.
    """
    X = check_array(X)
    k = check_n_clusters(n_clusters)
    n, d = X.shape
    if n < k:
        raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
    w = check_sample_weight(sample_weight, n)
    w64 = np.ones(n) if w is None else w
    trials = n_local_trials or 2 + int(np.log(k))
    rng = np.random.default_rng(seed)
    # Each step's GEMM is skinny (trials x d times d x n): a threaded BLAS gains little on
    # it and, on a busy 2-core box, was measured 5.6x slower than one thread (8.7 s vs
    # 1.5 s for k=256 on 100k x 32), so the seeding runs BLAS single-threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        return _greedy_plusplus(X, k, w64, trials, rng)


def _greedy_plusplus(X, k, w64, trials, rng) -> np.ndarray:
    n, d = X.shape
    centers = np.empty((k, d), dtype=np.float32)
    XT_aug = np.ones((d + 1, n), dtype=np.float32)
    XT_aug[:d] = X.T
    x_sqnorm = _row_sqnorms(X)
    # float32 weights for the candidates' potentials: they only rank the few candidates
    # of a step, float32 is precise enough there. einsum, not a BLAS matrix-vector
    # product: on a busy 2-core box a threaded BLAS GEMV was measured 100x slower.
    w32 = w64.astype(np.float32)
    first = int(rng.choice(n, p=w64 / w64.sum()))
    centers[0] = X[first]
    closest = np.maximum(_sqdist_to(XT_aug, x_sqnorm, X[first : first + 1])[0], 0.0)
    cumulative = np.empty(n, dtype=np.float64)
    for c in range(1, k):
        np.multiply(w64, closest, out=cumulative)
        np.cumsum(cumulative, out=cumulative)
        potential = cumulative[-1]
        if potential <= 0.0:
            # Every point coincides with a chosen centroid: no D^2 mass left.
            centers[c] = X[rng.choice(n, p=w64 / w64.sum())]
            continue
        cand = np.searchsorted(cumulative, rng.uniform(size=trials) * potential)
        np.minimum(cand, n - 1, out=cand)
        dist = _sqdist_to(XT_aug, x_sqnorm, X[cand])
        np.minimum(dist, closest, out=dist)
        best = int(np.argmin(np.einsum("ij,j->i", dist, w32)))
        centers[c] = X[cand[best]]
        closest = np.maximum(dist[best], 0.0)
    return centers


def random_init(X, n_clusters: int, *, sample_weight=None, seed: int = 0) -> np.ndarray:
    """``n_clusters`` distinct rows of X drawn with probability proportional to weight."""
    X = check_array(X)
    k = check_n_clusters(n_clusters)
    n = X.shape[0]
    if n < k:
        raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
    w = check_sample_weight(sample_weight, n)
    rng = np.random.default_rng(seed)
    p = None if w is None else w / w.sum()
    if p is not None and np.count_nonzero(p) < k:
        raise ValueError(
            f"random init needs n_clusters={k} rows with a positive weight, "
            f"got {np.count_nonzero(p)}."
        )
    idx = rng.choice(n, size=k, replace=False, p=p)
    return np.ascontiguousarray(X[np.sort(idx)])
