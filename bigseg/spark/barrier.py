"""Barrier-mode training: one barrier stage, partial sums over TCP between its tasks.

Each task turns its partition into a float32 numpy shard once, joins the TCP collective
(``collective.TcpAllreduce``: one allGather for the rendezvous), agrees on the initial
centroids (a hash-chosen sample gathered to task 0, seeded there, broadcast), then runs
the core's ``lloyd`` with the TCP allreduce. Per iteration the cost is the FAISS search on
the shard plus one small exchange, not a Spark job. Task 0 returns the result.

Several fits that differ only in k, seed, maxIter, tol or initMode (``fitMultiple``, the
k sweep) run one after the other in the same stage, over the same shards and collective:
the input is read and the tasks meet once, and each fit runs the code a single fit runs.

The input is read once: while building their shards the tasks classify the rows
(``checks.REASONS``: null, wrong length, non-finite, ...), agree on the vector length and
add up the counts. An input that cannot be fitted (invalid rows with
handleInvalid="error", k above the valid rows, ...) ends the tasks normally with the
counts as the result, and the driver raises the message; raising in the task would only
make Spark rerun the stage.

The barrier stage is followed by a one-partition shuffle before the collect, which makes
it a ShuffleMapStage: Spark reruns a failed barrier ShuffleMapStage as a whole (up to
``spark.stage.maxConsecutiveAttempts``), whereas a failed barrier ResultStage aborts the
job at once.

Each task picks its search backend where it runs (``training.executor_backend``: the
Spark GPU it holds, or faiss-cpu with the reason); the tasks agree over the collective on
whether every one can run and on the assignment, and every task returns its choice, so
the driver logs and reports which backend each executor used.

The function the executors run is built here, on the driver, as a closure over a
``TrainSpec``; FAISS and the core are imported inside it, on the executor.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession

from bigseg.spark.arrow import (
    FEATURES,
    PAYLOAD_SCHEMA,
    length_histogram,
    payload_batch,
    read_payloads,
)
from bigseg.spark.checks import REASONS, input_problem
from bigseg.spark.sampling import local_candidates, merge_candidates, sample_size, seed_centroids
from bigseg.spark.training import (
    InputStats,
    TrainResult,
    TrainSpec,
    describe_jobs,
    executor_backend,
    fit_assignment,
    load_shard,
    log_history,
    report_backends,
    set_threads,
)

log = logging.getLogger(__name__)


def _agree_on_length(batches: list[pa.RecordBatch], comm) -> int:
    """The features' length, the same in every task: the most common one over all rows."""
    from bigseg.spark.checks import most_common_length

    gathered = comm.gather(length_histogram(batches, FEATURES))
    choice = None
    if comm.rank == 0:
        histogram: dict[int, int] = {}
        for length, count in zip(gathered["len"].tolist(), gathered["count"].tolist(), strict=True):
            histogram[length] = histogram.get(length, 0) + count
        choice = {"d": np.array([most_common_length(histogram)], dtype=np.int64)}
    return int(comm.broadcast(choice)["d"][0])


def _input_stats(spec: TrainSpec, n_local: int, X, w, invalid, n_features: int, comm) -> InputStats:
    tot = comm.allreduce(
        {
            "n": np.array([n_local], dtype=np.float64),
            "invalid": invalid.astype(np.float64),
            "w_valid": np.array([X.shape[0] if w is None else w.sum()], dtype=np.float64),
        }
    )
    return InputStats(
        n_total=int(round(tot["n"][0])),
        invalid={r: int(round(v)) for r, v in zip(REASONS, tot["invalid"], strict=True) if v},
        n_features=n_features,
        w_valid=float(tot["w_valid"][0]),
    )


def _stops(spec: TrainSpec, stats: InputStats) -> bool:
    """Whether the input cannot be fitted (the driver then raises the message)."""
    return (
        input_problem(
            features_col="features",
            weight_col="weight" if spec.weighted else None,
            n_total=stats.n_total,
            invalid=stats.invalid,
            n_features=stats.n_features,
            k=spec.k,
            w_valid=stats.w_valid,
            cosine=spec.spherical,
            handle_invalid=spec.handle_invalid,
        )
        is not None
    )


def _barrier_init(spec: TrainSpec, X, w, n_rows: int, comm) -> np.ndarray:
    """Initial centroids, identical in every task: sampled on all, seeded on task 0."""
    if spec.init_centroids is not None:
        return spec.init_centroids
    size = sample_size(spec.k, n_rows)
    gathered = comm.gather(local_candidates(X, w, seed=spec.seed, size=size))
    centroids = None
    if comm.rank == 0:
        rows, weights = merge_candidates(gathered, size)
        centroids = {
            "c": seed_centroids(
                rows,
                weights,
                k=spec.k,
                init_mode=spec.init_mode,
                seed=spec.seed,
                spherical=spec.spherical,
                weighted=spec.weighted,
            )
        }
    return comm.broadcast(centroids)["c"]


def _peak_rss_mb() -> np.ndarray:
    """This Python worker's peak resident memory so far, in MiB (Linux: ru_maxrss in KiB)."""
    import resource

    return np.array([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0])


def _current_rss_mb() -> float:
    """This Python worker's resident memory now, in MiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maybe_fail_once(spec: TrainSpec, rank: int, world_size: int) -> None:
    marker = spec.fail_once_marker
    if marker and rank == world_size - 1 and not os.path.exists(marker):
        with open(marker, "x"):
            pass
        raise RuntimeError("bigseg test hook: injected failure of one barrier task")


def _fit_one(fit: TrainSpec, X, w, n_rows: int, comm, choice, any_gpu: bool):
    """One fit's init + Lloyd over the shard: (arrays, meta) of plain k x d values.

    The per-row labels are dropped before returning, so a task running several fits
    holds one fit's labels at a time.
    """
    from bigseg.kmeans.lloyd import lloyd

    t_start = time.perf_counter()
    assignment = fit_assignment(fit, any_gpu=any_gpu)
    init = _barrier_init(fit, X, w, n_rows, comm)
    init_seconds = time.perf_counter() - t_start
    result = lloyd(
        X,
        init,
        sample_weight=w,
        max_iter=fit.max_iter,
        tol=fit.tol,
        spherical=fit.spherical,
        assignment=assignment,
        backend=choice.backend,
        device=choice.device,
        seed=fit.seed,
        allreduce=comm.allreduce,
    )
    rows = comm.allreduce(
        {"rows": np.bincount(result.labels, minlength=fit.k).astype(np.float64)}
    )["rows"]
    arrays = {
        "centroids": result.centroids,
        "cluster_weights": np.asarray(result.cluster_sizes, dtype=np.float64),
        "cluster_sizes": np.rint(rows).astype(np.int64),
    }
    meta = {
        "assignment": assignment,
        "inertia": result.inertia,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "history": result.history,
        "init_seconds": init_seconds,
        "fit_seconds": time.perf_counter() - t_start,
    }
    return arrays, meta


def build_barrier_task(
    spec: TrainSpec, fits: list[TrainSpec] | None = None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build, on the driver, the function every barrier task runs on the executors.

    The task reads its partition into one numpy shard, joins the TCP collective (one
    allGather for the rendezvous), then for each spec of ``fits`` (default: ``[spec]``)
    in order initialises and runs ``lloyd``; task 0 yields the results as payload rows
    (fit i's arrays named ``"<i>/<name>"``). ``spec`` gives what the fits share (input,
    backend, runtime); ``fits`` differ only in k, seed, maxIter, tol and initMode. Any
    error raises, failing the stage (every fit) as a whole.
    """
    fits = [spec] if fits is None else list(fits)

    def barrier_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import faiss  # noqa: F401 - loaded before the baseline: a library cost, not data's
        from pyspark import BarrierTaskContext

        from bigseg.spark.collective import TcpAllreduce

        t_start = time.perf_counter()
        # The worker's memory before it holds any data: peak minus this is what the
        # shard and the fit cost (the interpreter and its imports are ~250 MiB alone).
        baseline_mb = _current_rss_mb()
        set_threads(spec.task_cpus)
        # Arrow batches are held until the length is agreed, then turned into the shard.
        held = [b for b in batches if b.num_rows]
        n_local = sum(b.num_rows for b in held)
        ctx = BarrierTaskContext.get()
        with TcpAllreduce.from_barrier_context(
            ctx, timeout=spec.timeout_s, connect_timeout=spec.connect_timeout_s
        ) as comm:
            _maybe_fail_once(spec, comm.rank, comm.world_size)
            d = spec.n_features if spec.n_features is not None else _agree_on_length(held, comm)
            X, w, invalid = load_shard(held, spec, d)
            del held
            t_loaded = time.perf_counter()
            stats = _input_stats(spec, n_local, X, w, invalid, d, comm)
            input_meta = {
                "n_total": stats.n_total,
                "invalid": stats.invalid,
                "n_features": stats.n_features,
                "w_valid": stats.w_valid,
            }
            if any(_stops(fit, stats) for fit in fits):
                # Not an exception: Spark would rerun the stage. The driver raises.
                if comm.rank == 0:
                    yield payload_batch(0, {}, {"status": "invalid", "input": input_meta})
                return
            # Each task picks its own backend (its executor's GPU, or the CPU fallback);
            # the tasks agree on whether any cannot run and on the assignment.
            backend, choice = executor_backend(spec, comm.rank, ctx)
            agreed = comm.allreduce(
                {
                    "errors": np.array([choice is None], dtype=np.float64),
                    "gpu": np.array([choice is not None and choice.on_gpu], dtype=np.float64),
                }
            )
            if agreed["errors"][0] > 0:
                # Not an exception either: every task reports, the driver names them.
                status = {"status": "backend", "input": input_meta, "backend": backend}
                yield payload_batch(comm.rank, {}, status)
                return
            results = [
                _fit_one(fit, X, w, stats.n_rows, comm, choice, agreed["gpu"][0] > 0)
                for fit in fits
            ]
            shards = comm.gather(
                {
                    "n": np.array([X.shape[0]], dtype=np.int64),
                    "rss_mb": _peak_rss_mb(),
                    "base_mb": np.array([baseline_mb]),
                    "shard_mb": np.array([X.nbytes / 2**20]),
                }
            )
            rank = comm.rank
        if rank != 0:
            yield payload_batch(rank, {}, {"status": "ok", "backend": backend})
        else:
            arrays = {
                "shard_rows": shards["n"],
                "peak_rss_mb": shards["rss_mb"],
                "baseline_rss_mb": shards["base_mb"],
                "shard_mb": shards["shard_mb"],
            }
            for i, (fit_arrays, _) in enumerate(results):
                arrays.update({f"{i}/{name}": a for name, a in fit_arrays.items()})
            meta = {
                "status": "ok",
                "backend": backend,
                "input": input_meta,
                "fits": [fit_meta for _, fit_meta in results],
                "load_seconds": t_loaded - t_start,
                "task_seconds": time.perf_counter() - t_start,
            }
            yield payload_batch(0, arrays, meta)

    return barrier_task


def _run_barrier(df: DataFrame, task) -> list:
    return (
        df.mapInArrow(task, PAYLOAD_SCHEMA, barrier=True)
        .repartition(1)  # makes the barrier stage a ShuffleMapStage: retried on failure
        .collect()
    )


def train_barrier(
    spark: SparkSession, frame: DataFrame, spec: TrainSpec, workers: int
) -> tuple[InputStats, TrainResult | None]:
    """Run the barrier stage on ``workers`` tasks over the unvalidated training ``frame``.

    Returns the input's statistics and task 0's result, or None in its place when the
    tasks found the input unusable (the caller raises the message, see dataset). Raises
    ValueError naming the executors when a task's backend cannot run there (with
    ``backend_fallback="error"``).
    """
    stats, results = train_barrier_multiple(spark, frame, spec, [spec], workers)
    return stats, None if results is None else results[0]


def train_barrier_multiple(
    spark: SparkSession, frame: DataFrame, spec: TrainSpec, fits: list[TrainSpec], workers: int
) -> tuple[InputStats, list[TrainResult] | None]:
    """``train_barrier`` for several fits in one stage: one TrainResult per spec of
    ``fits``, in order (None when any fit cannot run on the input).

    Each result's ``seconds`` is its share of the stage: its own init + Lloyd seconds
    in the task, plus the stage's other time (scheduling, reading, rendezvous) split
    evenly, so the shares add up to the stage's wall time.
    """
    task = build_barrier_task(spec, fits)
    what = f"k={spec.k}" if len(fits) == 1 else f"{len(fits)} fits (k={[f.k for f in fits]})"
    describe_jobs(spark, f"bigseg FaissKMeans: barrier training, {what}, {workers} tasks")
    t0 = time.perf_counter()
    try:
        df = frame
        if df.rdd.getNumPartitions() != workers:
            df = df.repartition(workers)
        try:
            rows = _run_barrier(df, task)
        except Py4JJavaError as exc:
            if "BarrierJobUnsupportedRDDChain" not in str(exc.java_exception):
                raise
            # Every RDD inside a barrier stage must have the stage's task count: an input
            # built with coalesce() or union() is not, so cut its lineage with a shuffle.
            # Spark refuses such a job before running any task; nothing was lost.
            log.info("FaissKMeans: input lineage not allowed in a barrier stage; repartitioning")
            rows = _run_barrier(frame.repartition(workers), task)
    finally:
        describe_jobs(spark, None)
    seconds = time.perf_counter() - t0
    payloads = read_payloads(rows)
    if 0 not in payloads:
        raise RuntimeError("the barrier stage finished without a result from task 0")
    arrays, meta = payloads[0]
    stats = InputStats(**meta["input"])
    if meta["status"] == "invalid":
        return stats, None
    backends = [m["backend"] for _, m in payloads.values() if m and "backend" in m]
    report_backends(backends, "barrier")
    fit_metas = meta["fits"]
    overhead = max(0.0, seconds - sum(float(m["fit_seconds"]) for m in fit_metas))
    results = []
    for i, (fit, fit_meta) in enumerate(zip(fits, fit_metas, strict=True)):
        log_history(fit_meta["history"], "barrier")
        share = float(fit_meta["fit_seconds"]) + overhead / len(fits)
        if len(fits) > 1:
            log.info(
                "FaissKMeans barrier fit %d/%d (k=%d, seed=%d): %d iterations, objective "
                "%.8g, %.2f s (%.2f s in the task)",
                i + 1, len(fits), fit.k, fit.seed, fit_meta["n_iter"], fit_meta["inertia"],
                share, fit_meta["fit_seconds"],
            )
        results.append(
            TrainResult(
                centroids=arrays[f"{i}/centroids"],
                inertia=float(fit_meta["inertia"]),
                n_iter=int(fit_meta["n_iter"]),
                converged=bool(fit_meta["converged"]),
                history=fit_meta["history"],
                cluster_sizes=arrays[f"{i}/cluster_sizes"],
                cluster_weights=arrays[f"{i}/cluster_weights"],
                mode="barrier",
                num_workers=workers,
                seconds=seconds if len(fits) == 1 else share,
                init_seconds=float(fit_meta["init_seconds"]),
                shard_rows=[int(n) for n in arrays["shard_rows"]],
                worker_peak_mb=[float(m) for m in arrays["peak_rss_mb"]],
                worker_baseline_mb=[float(m) for m in arrays["baseline_rss_mb"]],
                shard_mb=[float(m) for m in arrays["shard_mb"]],
                backends=backends,
            )
        )
    log.info(
        "FaissKMeans barrier stage: %d tasks, %.2f s in all (%.2f s reading shards, %.2f s "
        "initialising, %s iterations); shard rows %s, worker peak memory %s MiB",
        workers,
        seconds,
        meta["load_seconds"],
        sum(float(m["init_seconds"]) for m in fit_metas),
        "+".join(str(m["n_iter"]) for m in fit_metas),
        arrays["shard_rows"].tolist(),
        np.round(arrays["peak_rss_mb"]).astype(int).tolist(),
    )
    return stats, results
