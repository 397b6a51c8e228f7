"""What every bigseg benchmark shares: machine and library facts, the git commit, timing,
peak-memory sampling of the driver and of Spark's Python workers, and result files.

Benchmarks are scripts, not tests: they print a table for the person watching and write
JSON (and CSV) under benchmarks/results/ for the record.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import psutil

log = logging.getLogger("bigseg.benchmarks")

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("bigseg", "pyspark", "faiss-cpu", "faiss-gpu", "numpy", "scikit-learn",
             "pyarrow", "pandas", "torch", "mlflow")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10, check=False)
    except OSError:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True, timeout=10, check=False).stdout
    commit = out.stdout.strip() or None
    return f"{commit}-dirty" if commit and dirty.strip() else commit


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, object]:
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "cpu": flags or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_header() -> dict[str, object]:
    return {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine_info(),
        "versions": library_versions(),
    }


def is_spark_python_worker(proc: psutil.Process) -> bool:
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return "pyspark.daemon" in cmd or "pyspark.worker" in cmd or "pyspark/daemon" in cmd


@dataclass
class MemorySampler:
    """Sample RSS of this process, of the JVMs it started and of Spark's Python workers.

    Peak per category, in MiB; sampling every ``interval_s`` in a daemon thread.
    """

    interval_s: float = 0.05
    peak_driver_mb: float = 0.0
    peak_jvm_mb: float = 0.0
    peak_worker_mb: float = 0.0  # the largest single Python worker
    peak_workers_total_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                self.peak_driver_mb = max(self.peak_driver_mb, me.memory_info().rss / 2**20)
                workers, jvm = [], 0.0
                for child in me.children(recursive=True):
                    try:
                        rss = child.memory_info().rss / 2**20
                        name = child.name()
                    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                        continue
                    if name == "java":
                        jvm += rss
                    elif is_spark_python_worker(child):
                        workers.append(rss)
                self.peak_jvm_mb = max(self.peak_jvm_mb, jvm)
                if workers:
                    self.peak_worker_mb = max(self.peak_worker_mb, max(workers))
                    self.peak_workers_total_mb = max(self.peak_workers_total_mb, sum(workers))
            except psutil.Error:
                pass
            time.sleep(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def as_dict(self) -> dict[str, float]:
        return {
            "peak_driver_mb": round(self.peak_driver_mb, 1),
            "peak_jvm_mb": round(self.peak_jvm_mb, 1),
            "peak_python_worker_mb": round(self.peak_worker_mb, 1),
            "peak_python_workers_total_mb": round(self.peak_workers_total_mb, 1),
        }


def write_csv(rows: list[dict], path: Path) -> Path:
    """The rows as CSV, one column per key found in any row (sorted)."""
    keys = sorted({key for row in rows for key in row})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


def utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def write_results(name: str, header: dict, rows: list[dict], summary: dict | None = None) -> Path:
    """Write ``results/<name>-<timestamp>.json`` (+ .csv of the rows) and ``<name>-latest.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp()
    payload = {**header, "benchmark": name, "rows": rows, "summary": summary or {}}
    path = RESULTS / f"{name}-{stamp}.json"
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    if rows:
        write_csv(rows, RESULTS / f"{name}-{stamp}.csv")
    log.info("results written to %s", path)
    return path


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """At most ``threads`` threads for FAISS (OpenMP) and BLAS/OpenMP (threadpoolctl);
    None leaves the defaults."""
    if threads is None:
        yield
        return
    import faiss
    from threadpoolctl import threadpool_limits

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        faiss.omp_set_num_threads(before)


def format_rows(rows: list[dict], columns: list[str]) -> str:
    """A fixed-width text table of ``columns`` for the console."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    table = [columns] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in table)
