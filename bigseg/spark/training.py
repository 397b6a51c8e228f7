"""Distributed Lloyd training: what both modes share, and the choice between them.

Barrier mode (``barrier``, the default): one barrier stage whose tasks each turn their
partition into a float32 numpy shard once, agree on the initial centroids, then run the
core's ``lloyd`` with a TCP allreduce between the tasks. Jobs mode (``jobs``, the
fallback): one Spark job per iteration over the cached input, same statistics, same
update. This module holds the spec the executors receive, the result, the slot check
that picks the mode, and the helpers both use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from bigseg.spark.arrow import FEATURES, WEIGHT, valid_shard
from bigseg.spark.collective import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)

# Spark conf keys read on the driver (``--conf`` or the session builder).
CONF_TIMEOUT = "spark.bigseg.collective.timeout"
CONF_CONNECT_TIMEOUT = "spark.bigseg.collective.connectTimeout"


@dataclass(frozen=True)
class TrainSpec:
    """Everything a training task needs; pickled into the executors' closure."""

    k: int
    max_iter: int
    tol: float
    seed: int
    spherical: bool
    init_mode: str
    assignment: str
    backend: str
    weighted: bool
    handle_invalid: str = "error"
    # An executor where the requested GPU backend cannot run: "cpu" runs faiss-cpu there
    # (logged, and reported in TrainResult.backends); "error" fails the fit.
    backend_fallback: str = "cpu"
    # None: the barrier tasks agree on the most common vector length (jobs mode: known).
    n_features: int | None = None
    # Valid rows (jobs mode, from its validation pass); barrier tasks count them.
    n_rows: int | None = None
    init_centroids: np.ndarray | None = None
    task_cpus: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    # Tests only: the last task of the first stage attempt fails once (file as a flag).
    fail_once_marker: str | None = None


@dataclass
class InputStats:
    """What the rows were: totals and invalid rows by reason (checks.REASONS)."""

    n_total: int
    invalid: dict[str, int]
    n_features: int
    w_valid: float

    @property
    def n_rows(self) -> int:
        return self.n_total - sum(self.invalid.values())


@dataclass
class TrainResult:
    """What a fit produced; global values, the same whatever the mode."""

    centroids: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    history: list[dict]
    cluster_sizes: np.ndarray  # rows per cluster (int64)
    cluster_weights: np.ndarray  # weighted counts per cluster (float64)
    mode: str
    num_workers: int
    seconds: float
    init_seconds: float
    shard_rows: list[int] = field(default_factory=list)
    worker_peak_mb: list[float] = field(default_factory=list)  # per task (barrier mode)
    worker_baseline_mb: list[float] = field(default_factory=list)  # before the data
    shard_mb: list[float] = field(default_factory=list)  # bytes of each task's shard
    # One record per training task: the backend it ran and why (see executor_backend).
    backends: list[dict] = field(default_factory=list)


# -- executor side ------------------------------------------------------------------------


def set_threads(task_cpus: int) -> None:
    """Spark sets OMP_NUM_THREADS=1 in Python workers: give FAISS the task's cores."""
    import faiss

    faiss.omp_set_num_threads(max(1, task_cpus))


def load_shard(batches: Iterable[pa.RecordBatch], spec: TrainSpec, n_features: int):
    """(X float32, weights or None, invalid counts per reason) of this partition."""
    return valid_shard(
        batches,
        features=FEATURES,
        n_features=n_features,
        cosine=spec.spherical,
        weight=WEIGHT if spec.weighted else None,
    )


def task_gpu_address(ctx) -> str | None:
    """The first address of the task's Spark ``gpu`` resource (None: it holds none).

    A task given several GPUs (spark.task.resource.gpu.amount > 1) uses the first: the
    search runs on one device. Tasks sharing one GPU (amount < 1) all get its address.
    """
    try:
        info = ctx.resources().get("gpu") if ctx is not None else None
    except Exception:  # noqa: BLE001 - no resource information is "no GPU resource"
        return None
    addresses = list(getattr(info, "addresses", None) or [])
    return str(addresses[0]) if addresses else None


NO_GPU_RESOURCE = "the task holds no Spark 'gpu' resource (spark.task.resource.gpu.amount)"


def executor_backend(spec, task: int, ctx, *, announce: bool = True):
    """(record, choice) of the backend this task runs; choice None when it cannot run.

    ``spec`` is a TrainSpec or PredictSpec (``backend``, ``backend_fallback``,
    ``assignment``). The record (plain values) goes back to the driver; the choice is
    logged here, on the executor: a fallback, or a task holding a GPU it does not use,
    at WARNING (Python workers print WARNING and above to the executor's stderr);
    ``announce=False`` logs at DEBUG only (jobs mode's every-iteration passes).
    """
    import socket

    from bigseg.kmeans.assign import choose_backend

    address = task_gpu_address(ctx)
    record = {
        "task": task,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "gpu_address": address,
        "requested": spec.backend,
        "error": None,
    }
    try:
        choice = choose_backend(
            spec.backend,
            gpu_address=address,
            fallback=spec.backend_fallback,
            approximate=spec.assignment in ("hnsw", "ivf"),
            context="" if address is not None else NO_GPU_RESOURCE,
        )
    except ValueError as exc:
        record.update(backend=None, device=None, fallback=False, reason=str(exc), error=str(exc))
        log.error("bigseg task %d on %s: %s", task, record["host"], exc)
        return record, None
    record.update(choice.as_dict())
    where = f"bigseg task {task} on {record['host']} (pid {record['pid']})"
    if not announce:
        log.debug("%s: %s", where, choice.describe())
    elif choice.fallback:
        log.warning("%s: %s", where, choice.describe())
    elif address is not None and not choice.on_gpu:
        log.warning("%s holds Spark GPU %s but searches on the CPU: %s", where, address,
                    choice.describe())
    else:
        log.info("%s: %s", where, choice.describe())
    return record, choice


def fit_assignment(spec, *, any_gpu: bool) -> str:
    """The assignment every task of a fit uses, the same in all of them.

    ``auto`` is exact when any task searches on a GPU (brute force on a GPU beats CPU
    HNSW / IVF, and CPU tasks of a mixed cluster then search exactly too, so labels do
    not depend on which executor a row landed on) or torch was asked for (exact only);
    otherwise the core's rule by k.
    """
    from bigseg.kmeans.assign import resolve_assignment

    if spec.assignment != "auto":
        return spec.assignment
    if any_gpu or spec.backend == "torch":
        return "exact"
    return resolve_assignment("auto", spec.k)


def check_backend_params(backend: str, assignment: str) -> None:
    """Contradictory settings, raised on the driver before any task runs."""
    if backend == "torch" and assignment in ("hnsw", "ivf"):
        raise ValueError(
            f"backend='torch' supports assignment='exact' only, got assignment={assignment!r}; "
            "use backend='faiss-cpu', 'faiss-gpu' or 'auto' for approximate assignment."
        )


# -- driver side --------------------------------------------------------------------------


def task_slots(spark: SparkSession) -> int:
    """Tasks the registered executors can run at once (what a barrier stage needs)."""
    sc = spark.sparkContext
    try:
        jsc = sc._jsc.sc()
        profile = jsc.resourceProfileManager().defaultResourceProfile()
        return int(jsc.maxNumConcurrentTasks(profile))
    except Exception as exc:  # noqa: BLE001 - private JVM API; fall back to a public estimate
        log.debug("maxNumConcurrentTasks unavailable (%s); using defaultParallelism", exc)
        cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        return max(1, sc.defaultParallelism // max(1, cpus))


def _conf_seconds(spark: SparkSession, key: str, default: float) -> float:
    value = spark.conf.get(key, None)
    if value is None:
        return default
    try:
        seconds = float(str(value).rstrip("s"))
    except ValueError as exc:
        raise ValueError(f"{key} must be a number of seconds, got {value!r}") from exc
    if seconds <= 0:
        raise ValueError(f"{key} must be > 0 seconds, got {value!r}")
    return seconds


def spec_runtime(spark: SparkSession, spec: TrainSpec) -> TrainSpec:
    """The spec completed with the session's task cores and collective timeouts."""
    return replace(
        spec,
        task_cpus=int(spark.sparkContext.getConf().get("spark.task.cpus", "1")),
        timeout_s=_conf_seconds(spark, CONF_TIMEOUT, DEFAULT_TIMEOUT_S),
        connect_timeout_s=_conf_seconds(spark, CONF_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT_S),
    )


def choose_mode(
    spark: SparkSession, *, requested: str, num_workers: int | None, n_partitions: int
) -> tuple[str, int]:
    """(mode, tasks) for a fit; fails fast when a barrier stage could never be scheduled.

    Spark's own check would retry the slot test for minutes before failing a barrier
    stage that asks for more tasks than there are slots; this one fails at once, with
    both numbers.
    """
    slots = task_slots(spark)
    workers = num_workers or max(1, min(slots, n_partitions))
    if requested == "jobs":
        return "jobs", workers
    if workers > slots:
        raise ValueError(
            f"FaissKMeans needs {workers} training tasks running at once (numWorkers="
            f"{num_workers if num_workers else 'auto'}, input partitions={n_partitions}) but "
            f"the cluster has only {slots} free task slots. Set numWorkers <= {slots}, add "
            "executors, or set trainingMode='jobs' (one Spark job per iteration)."
        )
    dynamic = spark.sparkContext.getConf().get("spark.dynamicAllocation.enabled", "false")
    if dynamic.lower() == "true":
        reason = "barrier stages do not run with spark.dynamicAllocation.enabled=true"
        if requested == "barrier":
            raise ValueError(f"trainingMode='barrier' cannot run: {reason}.")
        log.warning("FaissKMeans: %s; falling back to one Spark job per iteration.", reason)
        return "jobs", workers
    return "barrier", workers


def describe_jobs(spark: SparkSession, text: str | None) -> None:
    """Name the next Spark jobs in the UI (None clears it)."""
    spark.sparkContext.setLocalProperty("spark.job.description", text)


def log_history(history: list[dict], mode: str) -> None:
    """Each iteration's objective, shift and seconds at INFO, on the driver."""
    for rec in history:
        log.info(
            "FaissKMeans %s iteration %d: objective %.8g, centroid shift %.4g, %.3f s",
            mode,
            rec["iteration"],
            rec["objective"],
            rec["centroid_shift"],
            rec["seconds"],
        )


def _where(record: dict) -> str:
    return f"host {record['host']} (task {record['task']}, pid {record['pid']})"


def check_backends(records: list[dict]) -> None:
    """Raise, naming the executors, when a task's requested backend could not run."""
    errors = [r for r in records if r.get("error")]
    if errors:
        lines = "; ".join(f"{_where(r)}: {r['error']}" for r in errors)
        raise ValueError(
            f"FaissKMeans backend={errors[0]['requested']!r} cannot run on {len(errors)} of "
            f"{len(records)} training tasks with backendFallback='error': {lines}. Set "
            "backendFallback='cpu' to run those tasks on faiss-cpu, or backend='auto'."
        )


def report_backends(records: list[dict], mode: str) -> None:
    """Log on the driver which backend each training task used; raise if any could not.

    One line per (host, backend, device, reason), naming the tasks; a fallback, or a
    task that holds a Spark GPU but searched on the CPU, at WARNING.
    """
    check_backends(records)
    groups: dict[tuple, list[int]] = {}
    for r in records:
        key = (r["host"], r["backend"], r["device"], r["gpu_address"], r["fallback"], r["reason"])
        groups.setdefault(key, []).append(int(r["task"]))
    for key in sorted(groups, key=str):  # str: keys hold None beside strings
        host, backend, device, address, fallback, reason = key
        tasks = groups[key]
        gpu = f", Spark GPU {address}" if address is not None else ""
        if fallback:
            log.warning(
                "FaissKMeans %s: executor host %s (tasks %s%s) used %s (fallback from %s: %s)",
                mode, host, tasks, gpu, backend, records[0]["requested"], reason,
            )
        else:
            # a task that holds a Spark GPU and searches on the CPU wastes it: say so
            idle_gpu = address is not None and device == "cpu"
            log.log(
                logging.WARNING if idle_gpu else logging.INFO,
                "FaissKMeans %s: executor host %s (tasks %s%s) used %s on %s%s",
                mode, host, tasks, gpu, backend, device, f" ({reason})" if reason else "",
            )
