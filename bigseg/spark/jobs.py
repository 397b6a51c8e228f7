"""Jobs-mode training: one Spark job per iteration over the cached input.

The fallback where a barrier stage cannot run. Each pass is a ``mapInArrow`` over the
cached valid rows whose partitions return their additive statistics; the driver sums
them in partition order and applies the core's update, empty-cluster repair and stopping
rule, so the centroids agree with barrier mode to float64 rounding. Slower: each
iteration pays Spark's per-job cost and the Arrow transfer of the whole input.

The functions the executors run are built here, on the driver; FAISS and the core are
imported inside them, on the executor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from bigseg.spark.arrow import PAYLOAD_SCHEMA, payload_batch, read_payloads
from bigseg.spark.sampling import local_candidates, merge_candidates, sample_size, seed_centroids
from bigseg.spark.training import (
    TrainResult,
    TrainSpec,
    check_backends,
    describe_jobs,
    executor_backend,
    fit_assignment,
    load_shard,
    log_history,
    report_backends,
    set_threads,
)

if TYPE_CHECKING:
    from bigseg.spark.dataset import PreparedInput

log = logging.getLogger(__name__)


def _blockwise(X, w, transform, block: int = 1 << 16) -> np.ndarray:
    """Weighted column sums of transform(float64 block): never a float64 copy of all of X."""
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], block):
        xb = transform(X[start : start + block].astype(np.float64))
        total += xb.sum(axis=0) if w is None else w[start : start + block] @ xb
    return total


def build_partition_pass(
    spec: TrainSpec,
    *,
    centroids: np.ndarray | None,
    mean: np.ndarray | None = None,
    sample: bool = False,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build, on the driver, one jobs-mode pass that every partition runs on executors.

    It yields the partition's additive statistics: with ``sample``, its initialisation
    candidates and the moments (n, weight sum, weighted feature sum); with ``mean``, the
    centred squares for the variance; with ``centroids``, the Lloyd statistics and the
    per-cluster row counts.
    """

    def partition_pass(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        from bigseg.kmeans.lloyd import normalize_rows

        set_threads(spec.task_cpus)
        ctx = TaskContext.get()
        part = ctx.partitionId()
        # Every pass picks the backend where it runs (a partition may move executors);
        # the first pass only reports it, so the driver can fail early or fix the
        # assignment for all passes.
        backend, choice = executor_backend(spec, part, ctx, announce=sample)
        X_raw, w, _ = load_shard(batches, spec, spec.n_features)
        X = normalize_rows(X_raw) if spec.spherical and X_raw.shape[0] else X_raw
        out: dict[str, np.ndarray] = {}
        if sample:
            size = sample_size(spec.k, spec.n_rows)
            if spec.init_centroids is None:
                cand = local_candidates(X_raw, w, seed=spec.seed, size=size)
                out.update({f"cand_{k}": v for k, v in cand.items()})
            out["n"] = np.array([X.shape[0]], dtype=np.float64)
            out["w_sum"] = np.array([X.shape[0] if w is None else w.sum()], dtype=np.float64)
            out["wx"] = _blockwise(X, w, lambda xb: xb)
        if mean is not None:
            out["wxx"] = _blockwise(X, w, lambda xb: (xb - mean) ** 2)
        if centroids is not None:
            from bigseg.kmeans.assign import make_assigner
            from bigseg.kmeans.stats import lloyd_stats

            if choice is None:
                raise ValueError(f"host {backend['host']}: {backend['error']}")
            assigner = make_assigner(
                centroids,
                assignment=spec.assignment,
                backend=choice.backend,
                device=choice.device,
                spherical=spec.spherical,
            )
            labels, _, stats = lloyd_stats(X, assigner, w)
            out.update(stats.to_arrays())
            out["rows"] = np.bincount(labels, minlength=spec.k).astype(np.float64)
            out["search_seconds"] = np.array([stats.search_seconds])
        yield payload_batch(part, out, {"backend": backend})

    return partition_pass


def _run_pass(
    df: DataFrame, fn, description: str, spark: SparkSession
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """One Spark job: every partition's arrays, summed in partition order (or gathered),
    and each partition's backend record."""
    describe_jobs(spark, description)
    try:
        payloads = read_payloads(df.mapInArrow(fn, PAYLOAD_SCHEMA).collect())
    finally:
        describe_jobs(spark, None)
    total: dict[str, np.ndarray] = {}
    gathered: dict[str, list[np.ndarray]] = {}
    backends = [meta["backend"] for _, meta in payloads.values() if meta]
    for arrays, _ in payloads.values():
        for name, arr in arrays.items():
            if name.startswith("cand_"):
                gathered.setdefault(name[5:], []).append(arr)
            elif name in total:
                total[name] = total[name] + arr
            else:
                total[name] = arr.astype(np.float64, copy=True)
    for name, parts in gathered.items():
        total["cand_" + name] = np.concatenate(parts, axis=0)
    return total, backends


def train_jobs(
    spark: SparkSession, data: PreparedInput, spec: TrainSpec, workers: int
) -> TrainResult:
    """One Spark job per iteration over the cached input; same statistics, same update."""
    from bigseg.kmeans.diagnostics import imbalance_factor
    from bigseg.kmeans.lloyd import normalize_rows, update_centroids

    # update_centroids is the core's update + empty-cluster repair; calling it (not a
    # copy) is what makes this path agree with the barrier path's lloyd.
    t0 = time.perf_counter()
    df = data.df
    if df.rdd.getNumPartitions() != workers:
        df = df.repartition(workers)
    df = df.persist()
    try:
        first, backends = _run_pass(
            df,
            build_partition_pass(spec, centroids=None, sample=True),
            f"bigseg FaissKMeans: sample and moments, k={spec.k}",
            spark,
        )
        check_backends(backends)  # fail before any iteration; logged after the last
        # One assignment for every pass, fixed from what the first pass's tasks chose.
        any_gpu = any(b["device"] != "cpu" for b in backends)
        spec = replace(spec, assignment=fit_assignment(spec, any_gpu=any_gpu))
        t_init = time.perf_counter()
        if spec.init_centroids is not None:
            centroids = spec.init_centroids
        else:
            size = sample_size(spec.k, spec.n_rows)
            rows, weights = merge_candidates(
                {k: first["cand_" + k] for k in ("hash", "weight", "rows")}, size
            )
            centroids = seed_centroids(
                rows,
                weights,
                k=spec.k,
                init_mode=spec.init_mode,
                seed=spec.seed,
                spherical=spec.spherical,
                weighted=spec.weighted,
            )
        init_seconds = time.perf_counter() - t_init
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        if spec.spherical:
            centroids = normalize_rows(centroids, name="init_centroids")
        w_total = float(first["w_sum"][0])
        mean = first["wx"] / w_total
        history: list[dict] = []
        converged = False
        tol_abs = scale = 0.0
        it = 0
        for it in range(1, spec.max_iter + 1):
            t_it = time.perf_counter()
            tot, _ = _run_pass(
                df,
                build_partition_pass(spec, centroids=centroids, mean=mean if it == 1 else None),
                f"bigseg FaissKMeans: iteration {it}, k={spec.k}",
                spark,
            )
            if it == 1:
                variance = float(np.mean(tot["wxx"] / w_total))
                tol_abs, scale = spec.tol * variance, float(np.sqrt(variance))
            new, n_repaired = update_centroids(
                tot, centroids, seed=spec.seed, iteration=it, scale=scale, spherical=spec.spherical
            )
            shift = float(np.sum((new.astype(np.float64) - centroids) ** 2))
            history.append(
                {
                    "iteration": it,
                    "objective": float(tot["inertia"][0]),
                    "centroid_shift": shift,
                    "imbalance": imbalance_factor(tot["counts"]),
                    "n_changed": None,  # needs the previous labels, which jobs do not keep
                    "clusters_repaired": n_repaired,
                    "seconds": time.perf_counter() - t_it,
                    "search_seconds": float(tot["search_seconds"][0]),
                    "build_seconds": 0.0,
                }
            )
            centroids = new
            # lloyd also stops when no label changed; then the centroids did not move
            # either (shift 0), so this one rule stops at the same iteration.
            if shift <= tol_abs:
                converged = True
                break
        final, backends = _run_pass(
            df,
            build_partition_pass(spec, centroids=centroids),
            f"bigseg FaissKMeans: final assignment, k={spec.k}",
            spark,
        )
    finally:
        df.unpersist()
    seconds = time.perf_counter() - t0
    report_backends(backends, "jobs")
    log_history(history, "jobs")
    log.info("FaissKMeans jobs mode: %d iterations, %.2f s in all", it, seconds)
    return TrainResult(
        centroids=centroids,
        inertia=float(final["inertia"][0]),
        n_iter=it,
        converged=converged,
        history=history,
        cluster_sizes=np.rint(final["rows"]).astype(np.int64),
        cluster_weights=final["counts"],
        mode="jobs",
        num_workers=workers,
        seconds=seconds,
        init_seconds=init_seconds,
        backends=backends,
    )
