"""Lloyd's algorithm over one shard, with every global quantity passed through an allreduce.

``lloyd`` runs in one process on all of X, or in N participants that each hold a shard of
X (the Spark barrier tasks). Everything global goes through ``allreduce``: the data's
weighted mean and variance (for the relative tolerance), the Lloyd statistics of every
iteration, the count of changed labels, the ANN recall counters and the final inertia.
Since all participants receive the same totals and the update and the empty-cluster
repair depend only on them (and on the seed and the iteration number), every participant
computes bit-identical centroids in every iteration.

Numerics: float32 points and centroids (FAISS's search precision), float64 for every
accumulation. Squared distances are computed by FAISS as ||x||^2 + ||c||^2 - 2<x, c>,
which loses precision when the data sit far from the origin relative to their spread:
scale / centre features first (bigseg's feature pipeline does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bigseg.kmeans.assign import AnnParams, choose_backend, make_assigner, resolve_assignment
from bigseg.kmeans.diagnostics import RecallProbe, imbalance_factor
from bigseg.kmeans.params import validate_params
from bigseg.kmeans.repair import split_empty_clusters
from bigseg.kmeans.stats import (
    DEFAULT_BLOCK_SIZE,
    LloydStats,
    _ScatterBuffers,
    lloyd_stats,
)
from bigseg.kmeans.validation import check_array, check_n_clusters, check_sample_weight

logger = logging.getLogger(__name__)

__all__ = ["LloydResult", "LloydStats", "lloyd", "lloyd_stats", "normalize_rows"]

Allreduce = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class LloydResult:
    """Outcome of ``lloyd`` for one participant.

    ``centroids`` float32 (k, d) and ``inertia`` / ``n_iter`` / ``history`` / ``converged``
    are global (the same in every participant); ``labels`` int64 are those of the
    participant's own shard. ``cluster_sizes`` are the global weighted counts of the final
    assignment; ``assignment`` and ``backend`` are what "auto" resolved to, ``device`` the
    CUDA ordinal the backend ran on (None: the CPU).
    """

    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    history: list[dict] = field(default_factory=list)
    converged: bool = False
    cluster_sizes: np.ndarray | None = None
    assignment: str = "exact"  # resolved: "exact" | "hnsw" | "ivf"
    backend: str = "faiss-cpu"  # resolved: "faiss-cpu" | "faiss-gpu" | "torch"
    device: int | None = None


def _identity(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return arrays


def _f64(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=np.float64))


def normalize_rows(X: np.ndarray, *, name: str = "X") -> np.ndarray:
    """Rows scaled to unit L2 norm (no copy if they already are); zero rows are an error."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    zero = norms == 0
    if zero.any():
        idx = np.flatnonzero(zero)
        raise ValueError(
            f"spherical k-means needs non-zero rows: {idx.size} row(s) of {name} have norm 0 "
            f"(first at row {int(idx[0])}); they have no direction to cluster by."
        )
    if np.all(np.abs(norms - 1.0) < 1e-6):
        return X
    return np.ascontiguousarray((X / norms[:, None]).astype(np.float32))


def _global_moments(X, w, reduce: Allreduce, block_size: int):
    """Global (n, total weight, mean per-feature variance), weighted, two-pass.

    Two passes (mean, then centred squares) instead of E[x^2] - E[x]^2, which cancels
    catastrophically when features sit far from 0. Done in float64 blocks, so X is never
    copied whole.
    """
    n, d = X.shape
    wsum = float(n) if w is None else float(w.sum())
    wx = np.zeros(d)
    for start in range(0, n, block_size):
        xb = X[start : start + block_size].astype(np.float64)
        wx += xb.sum(axis=0) if w is None else w[start : start + block_size] @ xb
    tot = reduce({"n": _f64(n), "w_sum": _f64(wsum), "wx": wx})
    n_global = int(round(tot["n"][0]))
    w_total = float(tot["w_sum"][0])
    if w_total <= 0:
        return n_global, w_total, 0.0
    mean = tot["wx"] / w_total
    sq = np.zeros(d)
    for start in range(0, n, block_size):
        xb = X[start : start + block_size].astype(np.float64) - mean
        xb *= xb
        sq += xb.sum(axis=0) if w is None else w[start : start + block_size] @ xb
    sq = reduce({"wxx": sq})["wxx"]
    return n_global, w_total, float(np.mean(sq / w_total))


def _subsample(X, w, *, n_global, k, max_points_per_centroid, seed):
    """FAISS-style training subsample: at most k * max_points_per_centroid points in all.

    Each participant keeps the same fraction of its shard (chosen with the seed), so the
    subsample is ~k * max_points_per_centroid in total; which points are kept depends on
    the partitioning, unlike the rest of the fit.
    """
    if max_points_per_centroid is None or n_global <= k * max_points_per_centroid:
        return X, w
    fraction = k * max_points_per_centroid / n_global
    n_local = X.shape[0]
    m = min(n_local, int(round(fraction * n_local)))
    rng = np.random.default_rng([seed, 0x5EB5])
    idx = np.sort(rng.permutation(n_local)[:m])
    logger.info(
        "Subsampling for training: %d of %d points overall (max_points_per_centroid=%d, "
        "k=%d); this shard keeps %d of %d. Labels and inertia are computed on all points.",
        int(round(fraction * n_global)),
        n_global,
        max_points_per_centroid,
        k,
        m,
        n_local,
    )
    return np.ascontiguousarray(X[idx]), None if w is None else w[idx]


def update_centroids(tot, old, *, seed, iteration, scale, spherical):
    """New float64 centroids from global sums / counts; empty ones repaired."""
    counts = tot["counts"].copy()
    centroids = old.astype(np.float64)
    nonempty = counts > 0
    centroids[nonempty] = tot["sums"][nonempty] / counts[nonempty, None]
    n_repaired = split_empty_clusters(
        centroids, counts, seed=seed, iteration=iteration, scale=scale
    )
    if spherical:
        norms = np.linalg.norm(centroids, axis=1)
        # A cluster whose unit vectors cancel out has no mean direction: keep the old one.
        flat = norms < 1e-12
        centroids[flat] = old[flat]
        norms[flat] = np.linalg.norm(centroids[flat], axis=1)
        centroids /= norms[:, None]
    return centroids.astype(np.float32), n_repaired


def _record(it, tot, shift, n_repaired, stats, t0, t_build, with_recall) -> dict:
    """One iteration's history entry, from the global totals of that iteration."""
    record = {
        "iteration": it,
        "objective": float(tot["inertia"][0]),
        "centroid_shift": shift,
        "imbalance": imbalance_factor(tot["counts"]),
        "n_changed": int(round(tot["n_changed"][0])),
        "clusters_repaired": n_repaired,
        "seconds": time.perf_counter() - t0,
        "search_seconds": stats.search_seconds,
        "build_seconds": t_build,
    }
    if with_recall:
        record["recall"] = RecallProbe.recall(tot)
    return record


def lloyd(
    X,
    init_centroids,
    *,
    sample_weight=None,
    max_iter: int = 300,
    tol: float = 1e-4,
    spherical: bool = False,
    assignment: str = "auto",
    backend: str = "auto",
    seed: int = 0,
    max_points_per_centroid: int | None = None,
    allreduce: Allreduce | None = None,
    callback: Callable[[dict], None] | None = None,
    ann_params: dict | AnnParams | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    device: int | None = None,
) -> LloydResult:
    """Run Lloyd iterations from ``init_centroids`` on ``X`` (this participant's shard).

    Stops when no label changes (strict convergence) or when the total squared centroid
    shift is at most ``tol`` times the mean per-feature (weighted) variance of X, as in
    scikit-learn, or after ``max_iter`` iterations. ``spherical=True`` clusters by cosine:
    rows of X and centroids are unit vectors and distances are on the unit sphere
    (``2 - 2 cos``). ``allreduce`` sums dicts of float64 arrays over all participants;
    None means a single process. ``callback`` receives each iteration's history record.
    ``device``: the CUDA ordinal of a GPU backend (None: 0); participants may each run a
    different backend (exact search agrees across them up to float ties).

    Returns a ``LloydResult`` whose labels and inertia match the returned centroids.
    """
    validate_params(
        {
            "max_iter": max_iter,
            "tol": tol,
            "spherical": spherical,
            "assignment": assignment,
            "backend": backend,
            "seed": seed,
            "max_points_per_centroid": max_points_per_centroid,
        },
        owner="lloyd",
    )
    ann_params = AnnParams.from_mapping(ann_params)  # bad keys fail before any work
    reduce = allreduce or _identity
    X = check_array(X)
    centroids = check_array(init_centroids, name="init_centroids")
    n, d = X.shape
    k = check_n_clusters(centroids.shape[0])
    if centroids.shape[1] != d:
        raise ValueError(
            f"The shape of the initial centers {centroids.shape} does not match the number "
            f"of features of the data {d}."
        )
    w = check_sample_weight(sample_weight, n, allow_all_zero=True)
    if spherical:
        X = normalize_rows(X)
        centroids = normalize_rows(centroids, name="init_centroids")

    n_global, w_total, variance = _global_moments(X, w, reduce, block_size)
    if n_global < k:
        raise ValueError(f"n_samples={n_global} should be >= n_clusters={k}.")
    if w_total <= 0:
        raise ValueError("sample_weight must not be all zero: no point would count.")
    tol_abs = tol * variance
    scale = float(np.sqrt(variance))

    requested = assignment
    assignment = resolve_assignment(assignment, k)
    choice = choose_backend(
        backend, device=device, approximate=requested not in ("auto", "exact")
    )
    backend, device = choice.backend, choice.device
    if requested == "auto" and backend != "faiss-cpu":
        # FAISS has no GPU HNSW and the torch backend is exact only; brute force on a GPU
        # beats CPU HNSW at the k bigseg targets.
        assignment = "exact"
    Xt, wt = _subsample(
        X,
        w,
        n_global=n_global,
        k=k,
        max_points_per_centroid=max_points_per_centroid,
        seed=seed,
    )
    subsampled = Xt is not X
    recall = (
        RecallProbe(Xt, n_global=n_global, spherical=spherical) if assignment != "exact" else None
    )

    # Buffers for the whole fit: labels / distances of this shard and the scatter scratch.
    nt = Xt.shape[0]
    labels = np.empty(nt, dtype=np.int64)
    prev_labels = np.full(nt, -1, dtype=np.int64)
    sqdist = np.empty(nt, dtype=np.float32)
    buffers = _ScatterBuffers(max(1, min(block_size, nt)), d)

    history: list[dict] = []
    converged = False
    unchanged = False
    tot = None
    it = 0
    for it in range(1, max_iter + 1):
        t0 = time.perf_counter()
        if it == 1:
            # built inside the loop so that the first build is timed like the others
            assigner = make_assigner(
                centroids,
                assignment=assignment,
                backend=backend,
                spherical=spherical,
                ann_params=ann_params,
                device=device,
            )
        else:
            assigner.update(centroids)
        t_build = time.perf_counter() - t0
        labels, sqdist, stats = lloyd_stats(
            Xt,
            assigner,
            wt,
            block_size=block_size,
            out=(labels, sqdist),
            buffers=buffers,
            # approximate search: a point keeps its previous centroid if that is closer
            candidates=None if assignment == "exact" or it == 1 else prev_labels,
        )
        payload = stats.to_arrays()
        payload["n_changed"] = _f64(np.count_nonzero(labels != prev_labels))
        if recall is not None:
            payload.update(recall.measure(assigner.centroids, labels, sqdist))
        tot = reduce(payload)
        new_centroids, n_repaired = update_centroids(
            tot, centroids, seed=seed, iteration=it, scale=scale, spherical=spherical
        )
        shift = float(np.sum((new_centroids.astype(np.float64) - centroids) ** 2))
        record = _record(it, tot, shift, n_repaired, stats, t0, t_build, recall is not None)
        history.append(record)
        logger.debug("lloyd iteration %s", record)
        if callback is not None:
            callback(record)
        # The centroids did not move at all: labels, inertia and counts of this step
        # already belong to the final centroids (no extra assignment needed below).
        unchanged = shift == 0.0
        centroids = new_centroids
        labels, prev_labels = prev_labels, labels
        # strict convergence (no label changed, nothing repaired), as in scikit-learn
        if (record["n_changed"] == 0 and n_repaired == 0) or shift <= tol_abs:
            converged = True
            break

    if unchanged and not subsampled:
        final_labels = prev_labels
        inertia = float(tot["inertia"][0])
        sizes = tot["counts"].copy()
    else:
        # One more assignment so that labels and inertia belong to the final centroids.
        assigner.update(centroids)
        hint = None if assignment == "exact" or subsampled else prev_labels
        final_labels, _, stats = lloyd_stats(X, assigner, w, block_size=block_size, candidates=hint)
        final = reduce({"inertia": _f64(stats.inertia), "counts": stats.counts})
        inertia = float(final["inertia"][0])
        sizes = final["counts"]
    if not converged:
        logger.info("lloyd stopped after max_iter=%d iterations without converging.", max_iter)
    return LloydResult(
        centroids=centroids,
        labels=final_labels,
        inertia=inertia,
        n_iter=it,
        history=history,
        converged=converged,
        cluster_sizes=sizes,
        assignment=assignment,
        backend=backend,
        device=device,
    )
