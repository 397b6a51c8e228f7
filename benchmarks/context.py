"""What the suites of one run share: the config, the Spark sessions, the generated data,
the worker specs and thread counts, and the run's scratch folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks.config import BenchConfig
from benchmarks.datasets import Datasets
from benchmarks.grid import Workers
from benchmarks.sessions import Sessions


@dataclass
class RunContext:
    cfg: BenchConfig
    sessions: Sessions
    datasets: Datasets
    workers: list[Workers]  # the first is the base
    threads: list[int | None]  # None: FAISS/BLAS defaults (all cores); the first is the base
    scratch: Path

    @classmethod
    def create(cls, cfg: BenchConfig, scratch: Path) -> RunContext:
        workers = [Workers.parse(w, cfg.cluster.cores_per_worker) for w in cfg.workers]
        if not workers:
            raise ValueError("workers is empty; give at least one, e.g. ['local[2]']")
        threads: list[int | None] = list(cfg.threads) or [None]
        # One Parquet file per task slot of the largest worker spec: every spec gets at
        # least one partition per slot (FaissKMeans then runs one task per slot).
        partitions = max(w.count for w in workers)
        datasets = Datasets(scratch / "data", blobs=cfg.kmeans.blobs, seed=cfg.seed,
                            partitions=partitions)
        return cls(cfg, Sessions(cfg), datasets, workers, threads, scratch)

    @property
    def base_workers(self) -> Workers:
        return self.workers[0]

    def spark(self, workers: Workers | None = None):
        return self.sessions.get(workers or self.base_workers)


def thread_count(threads: int | None) -> int:
    return threads or os.cpu_count() or 1
