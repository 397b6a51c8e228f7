"""`bigseg doctor`: what a platform team runs first on a new cluster.

Each check returns a row (name, ok, detail); a failed check carries a one-line reason.
The executor probe is a real mapInArrow task, so it proves what matters: executors start
Python, import bigseg and FAISS, and say which FAISS build, threads and GPUs they have.
"""

from __future__ import annotations

import logging
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bigseg
from bigseg.config import BigsegConfig
from bigseg.java import JavaNotFoundError, check_java

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PROBE_SCHEMA = (
    "host string, pid long, python string, bigseg string, faiss string, "
    "faiss_simd string, faiss_threads long, cpus long, gpus long, gpu_backends string, "
    "gpu_address string, auto_backend string, error string"
)


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str

    @property
    def status(self) -> str:
        return "ok" if self.ok else "FAIL"


def faiss_build_info() -> tuple[str, str, int]:
    """(version, SIMD level, OpenMP threads) of the FAISS this process imports."""
    import faiss

    options = faiss.get_compile_options().split()
    simd = next((o for o in ("AVX512_SPR", "AVX512", "AVX2", "SVE", "NEON") if o in options),
                "generic")
    return faiss.__version__, simd, faiss.omp_get_max_threads()


def gpu_backends() -> tuple[int, list[str]]:
    """GPUs visible to this process and the GPU backends that can use them."""
    from bigseg.kmeans import gpu

    count, backends = 0, []
    try:
        n = gpu.faiss_gpu_count()
        if n > 0:
            count = max(count, n)
            backends.append("faiss-gpu")
    except ImportError:
        pass
    try:
        n = gpu.torch_cuda_count()
        if n > 0:
            count = max(count, n)
            backends.append("torch")
    except ImportError:
        pass
    return count, backends


def task_backend(ctx) -> tuple[str, str]:
    """(the task's Spark GPU address or "", what backend="auto" picks in this task)."""
    from bigseg.kmeans.assign import choose_backend
    from bigseg.spark.training import task_gpu_address

    address = task_gpu_address(ctx)
    return address or "", choose_backend("auto", gpu_address=address).describe()


def make_executor_probe() -> Callable:
    """Build the function the executors run: one row per task about its Python.

    Defined as a closure so cloudpickle ships it by value: an executor without bigseg
    still runs it and reports the ImportError instead of failing to unpickle.
    """

    def probe(batches):
        import os
        import socket

        import pyarrow as pa
        from pyspark import TaskContext

        for _ in batches:
            pass
        row = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "python": sys.executable,
            "bigseg": "",
            "faiss": "",
            "faiss_simd": "",
            "faiss_threads": 0,
            "cpus": os.cpu_count() or 0,
            "gpus": 0,
            "gpu_backends": "",
            "gpu_address": "",
            "auto_backend": "",
            "error": "",
        }
        try:
            import bigseg as remote_bigseg
            from bigseg import doctor as remote

            row["bigseg"] = remote_bigseg.__version__
            row["faiss"], row["faiss_simd"], row["faiss_threads"] = remote.faiss_build_info()
            gpus, backends = remote.gpu_backends()
            row["gpus"], row["gpu_backends"] = gpus, ",".join(backends)
            row["gpu_address"], row["auto_backend"] = remote.task_backend(TaskContext.get())
        except Exception as exc:  # noqa: BLE001 - reported to the driver as a failed check
            row["error"] = f"{type(exc).__name__}: {exc}"
        yield pa.RecordBatch.from_pylist([row])

    return probe


def run_with_timeout(spark: SparkSession, fn: Callable[[], object], timeout_s: float, what: str):
    """Run a Spark action; cancel it and raise TimeoutError if it takes too long.

    A cluster with no executors would otherwise wait forever for resources.
    """
    group = f"bigseg-doctor-{time.monotonic_ns()}"
    result: dict[str, object] = {}

    def target() -> None:
        spark.sparkContext.setJobGroup(group, what, interruptOnCancel=True)
        try:
            result["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        spark.sparkContext.cancelJobGroup(group)
        raise TimeoutError(
            f"{what} did not finish within {timeout_s:.0f}s: are executors registered "
            f"with the master and free to take tasks?"
        )
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def check_python() -> CheckResult:
    ok = sys.version_info >= (3, 10)
    detail = f"{platform.python_version()} at {sys.executable}"
    return CheckResult("python", ok, detail if ok else f"{detail}: bigseg needs Python >= 3.10")


def check_java_runtime() -> CheckResult:
    try:
        info = check_java()
    except JavaNotFoundError as exc:
        return CheckResult("java", False, str(exc))
    return CheckResult("java", True, f"{info.version} at {info.executable}")


def check_driver_faiss() -> CheckResult:
    try:
        version, simd, threads = faiss_build_info()
    except ImportError as exc:
        return CheckResult("faiss (driver)", False, f"cannot import faiss: {exc}")
    return CheckResult("faiss (driver)", True, f"{version}, {simd}, {threads} threads")


def check_executors(spark: SparkSession, cfg: BigsegConfig) -> list[CheckResult]:
    """Run the probe as a real mapInArrow task on every slot."""
    n_tasks = cfg.doctor.probe_tasks or spark.sparkContext.defaultParallelism
    df = spark.range(0, n_tasks, 1, numPartitions=n_tasks)
    probed = df.mapInArrow(make_executor_probe(), PROBE_SCHEMA)
    try:
        rows = run_with_timeout(
            spark, probed.collect, cfg.doctor.timeout_s, f"executor probe ({n_tasks} tasks)"
        )
    except Exception as exc:  # noqa: BLE001 - any failure here is the check's answer
        reason = str(exc).strip().splitlines()[0][:300]
        return [CheckResult("executors", False, f"probe task failed: {reason}")]
    results = []
    errors = [r for r in rows if r.error]
    executors = sorted({(r.host, r.pid) for r in rows})
    pythons = sorted({r.python for r in rows})
    detail = f"{len(rows)} tasks on {len(executors)} python workers; python {', '.join(pythons)}"
    if errors:
        first = errors[0]
        results.append(
            CheckResult(
                "executors import bigseg+faiss",
                False,
                f"{len(errors)}/{len(rows)} tasks failed on {first.host} ({first.python}): "
                f"{first.error}",
            )
        )
        return results
    versions = sorted({f"bigseg {r.bigseg}, faiss {r.faiss}" for r in rows})
    results.append(CheckResult("executors import bigseg+faiss", True,
                               f"{detail}; {'; '.join(versions)}"))
    builds = sorted({f"{r.faiss_simd}, {r.faiss_threads} threads" for r in rows})
    results.append(CheckResult("faiss (executors)", True, "; ".join(builds)))
    gpu_rows = sorted({(r.host, r.gpus, r.gpu_backends, r.auto_backend) for r in rows})
    gpu_detail = "; ".join(
        f"{host}: {gpus} GPU(s) [{backends or 'no GPU backend'}], auto -> {auto}"
        for host, gpus, backends, auto in gpu_rows
    )
    addresses = sorted({r.gpu_address for r in rows if r.gpu_address})
    if addresses:
        gpu_detail += f"; tasks hold Spark GPU(s) {', '.join(addresses)}"
    results.append(CheckResult("gpus (executors)", True, gpu_detail))
    return results


def check_mlflow(cfg: BigsegConfig) -> CheckResult:
    """Write a run with a param, a metric and an artifact, then read them back."""
    from bigseg.tracking.store import (
        TrackingUnreachableError,
        check_tracking_reachable,
        ensure_experiment,
        resolve_tracking_uri,
    )

    uri = resolve_tracking_uri(cfg.tracking, cfg.paths)
    # MLflow's client retries for minutes; one short probe gives the answer at once.
    try:
        check_tracking_reachable(uri, timeout_s=10)
    except TrackingUnreachableError as exc:
        return CheckResult("mlflow", False, str(exc))
    try:
        import mlflow

        client = mlflow.MlflowClient(uri)
        experiment_id = ensure_experiment(
            f"{cfg.tracking.experiment}-doctor", cfg.tracking, cfg.paths, client=client
        )
        run = client.create_run(experiment_id, run_name="bigseg-doctor")
        run_id = run.info.run_id
        client.log_param(run_id, "bigseg_version", bigseg.__version__)
        client.log_metric(run_id, "doctor_ok", 1.0)
        with tempfile.TemporaryDirectory() as tmp:
            note = Path(tmp) / "doctor.txt"
            note.write_text("bigseg doctor wrote this artifact\n")
            client.log_artifact(run_id, str(note))
        client.set_terminated(run_id)
        artifacts = [a.path for a in client.list_artifacts(run_id)]
        if "doctor.txt" not in artifacts:
            return CheckResult("mlflow", False, f"{uri}: artifact not listed after upload")
        metric = client.get_run(run_id).data.metrics.get("doctor_ok")
        if metric != 1.0:
            return CheckResult("mlflow", False, f"{uri}: metric not read back")
    except Exception as exc:  # noqa: BLE001 - any failure here is the check's answer
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
        return CheckResult("mlflow", False, f"{uri}: {type(exc).__name__}: {reason}")
    return CheckResult("mlflow", True, f"{uri} writable (run {run_id[:8]})")


def run_checks(cfg: BigsegConfig, spark: SparkSession | None = None) -> list[CheckResult]:
    """Every check, in the order a person would debug them; stops early only without Java."""
    results = [check_python(), check_java_runtime(), check_driver_faiss()]
    if not results[1].ok and spark is None:
        return results
    if spark is None:
        from bigseg.session import get_spark

        try:
            spark = get_spark(cfg.spark)
        except Exception as exc:  # noqa: BLE001 - reported as the spark check
            reason = str(exc).strip().splitlines()[0][:300]
            results.append(CheckResult("spark", False, f"cannot start a SparkSession: {reason}"))
            return results
    sc = spark.sparkContext
    results.append(CheckResult("spark", True,
                               f"{spark.version}, master {sc.master}, "
                               f"{sc.defaultParallelism} slots, UI {sc.uiWebUrl or 'off'}"))
    if cfg.doctor.check_executors:
        results.extend(check_executors(spark, cfg))
    if cfg.doctor.check_mlflow and cfg.tracking.enabled:
        results.append(check_mlflow(cfg))
    return results


def format_table(results: list[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'check'.ljust(width)}  status  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{r.name.ljust(width)}  {r.status.ljust(6)}  {r.detail}" for r in results]
    failed = [r for r in results if not r.ok]
    if failed:
        lines.append("")
        lines += [f"FAILED {r.name}: {r.detail}" for r in failed]
    else:
        lines.append(f"\nall {len(results)} checks passed")
    return "\n".join(lines)


def run_doctor(cfg: BigsegConfig, spark: SparkSession | None = None, out=None) -> int:
    """Run the checks, write the table, return the exit code (0 = all passed)."""
    out = out or sys.stdout
    results = run_checks(cfg, spark)
    out.write(format_table(results) + "\n")
    out.flush()
    return 0 if all(r.ok for r in results) else 1
