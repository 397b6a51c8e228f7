"""One SparkSession at a time for a workers spec: ``local[N]``, or a loopback standalone
cluster of N workers (bigseg.cluster) started for the session and stopped after it.

One JVM holds one SparkContext, so sessions follow each other: the previous one is
stopped before the next starts (the driver's memory is fixed by the first).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from benchmarks.config import BenchConfig
from benchmarks.grid import Workers

log = logging.getLogger("bigseg.benchmarks.sessions")


def _spark_config(cfg: BenchConfig, master: str, extra: dict[str, str]):
    from bigseg.config import SparkConfig

    return SparkConfig(master=master, app_name="bigseg-benchmarks",
                       driver_memory=cfg.driver_memory, show_progress=False,
                       log_level="ERROR", conf={"spark.ui.enabled": "false", **extra})


@contextmanager
def spark_session(cfg: BenchConfig, workers: Workers) -> Iterator:
    """A session on ``workers``; stopped (and its cluster with it) on exit."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from bigseg.session import get_spark

    if workers.kind == "local":
        spark = get_spark(_spark_config(cfg, workers.spec, {}))
        try:
            yield spark
        finally:
            spark.stop()
        return

    from bigseg.cluster import LocalCluster

    cores = cfg.cluster.cores_per_worker
    with tempfile.TemporaryDirectory(prefix="bigseg-bench-cluster-") as workdir, \
            LocalCluster(workdir, n_workers=workers.count // cores, cores=cores,
                         memory=cfg.cluster.worker_memory, master_port=0,
                         webui_port=0) as cluster:
        log.info("loopback cluster %s: %d workers x %d cores", cluster.state.master_url,
                 workers.count // cores, cores)
        spark = get_spark(_spark_config(cfg, cluster.state.master_url, {
            "spark.executor.memory": cfg.cluster.executor_memory,
            "spark.executor.cores": str(cores),
            "spark.cores.max": str(workers.count),
            "spark.sql.shuffle.partitions": str(max(4, 2 * workers.count)),
        }))
        try:
            # Executors register after the session starts: wait for every slot, so the
            # first fit is not timed against a half-started cluster.
            _wait_for_executors(spark, workers.count // cores)
            yield spark
        finally:
            spark.stop()


def _wait_for_executors(spark, executors: int, timeout_s: float = 120.0) -> None:
    status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if status().size() - 1 >= executors:  # the driver is in the list too
            return
        time.sleep(0.5)
    raise TimeoutError(f"{executors} executors did not register within {timeout_s:.0f} s")


class Sessions:
    """The session of the workers spec asked for last; switching stops the previous one."""

    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.current: Workers | None = None
        self._spark = None
        self._stack = ExitStack()

    def get(self, workers: Workers):
        if self.current != workers:
            self.close()
            log.info("starting Spark on %s", workers.spec)
            self._spark = self._stack.enter_context(spark_session(self.cfg, workers))
            self.current = workers
        return self._spark

    def close(self) -> None:
        self._stack.close()
        self._spark = self.current = None
