"""Throughput of the data layer: synthetic generation and validation, rows per second.

Timed phases on one SparkSession (local[2] by default):

1. ``generate + write``: every contract table generated and written as Parquet under
   ``--workdir`` (a temp folder by default, deleted afterwards): the generator's figure;
2. ``generate (noop)`` (only with ``--noop``): the same tables generated again and
   discarded (Spark's ``noop`` sink), the generator without the Parquet writer;
3. ``read + validate + quarantine``: ``load_sources`` over those Parquet files (kind
   ``files``): read, check every rule, write the quarantine tables and the report.

Rows are the rows of the five contract tables, generated with ``dirty_share`` bad rows
so that validation quarantines rows on every run. The machine may be shared: each phase
also records the CPU seconds of Spark's JVM (work done, much less sensitive to other
load than wall time) and the load average. Results: ``benchmarks/results/bench_data-*``
(JSON + CSV, via benchmarks.common).

    python -m benchmarks.bench_data --customers 1000000 --activity-scale 0.5
    python -m benchmarks.bench_data --quick
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import psutil

from benchmarks.common import MemorySampler, format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.data")

QUICK_CUSTOMERS = 20_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to generate")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CUSTOMERS:,} customers: checks that the benchmark runs")
    parser.add_argument("--activity-scale", type=float, default=1.0,
                        help="SyntheticConfig.activity_scale: transactions and events per customer")
    parser.add_argument("--dirty-share", type=float, default=0.01)
    parser.add_argument("--partitions", type=int, default=2, help="local[N]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noop", action="store_true",
                        help="also time generation alone (noop sink): generates twice")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the Parquet goes (default: a temp folder, deleted after)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the generated Parquet (only with --workdir)")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers = QUICK_CUSTOMERS
    if args.keep_data and args.workdir is None:
        parser.error("--keep-data needs --workdir")
    return args


class _JvmCpu:
    """CPU seconds (user + system) of the JVMs this process started."""

    def __init__(self) -> None:
        self._me = psutil.Process()

    def seconds(self) -> float:
        total = 0.0
        for child in self._me.children(recursive=True):
            try:
                if child.name() == "java":
                    times = child.cpu_times()
                    total += times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return total


def timed(phase: str, fn, cpu: _JvmCpu) -> tuple[object, dict]:
    """Run ``fn`` once; its wall and JVM CPU seconds, peak memory and the load around it."""
    load_before = os.getloadavg()[0]
    cpu_before = cpu.seconds()
    with MemorySampler(interval_s=0.5) as memory:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    jvm_cpu = cpu.seconds() - cpu_before
    row = {"phase": phase, "seconds": round(seconds, 2), "jvm_cpu_s": round(jvm_cpu, 1),
           "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2),
           **memory.as_dict()}
    log.info("%s: %.1f s wall, %.1f s JVM CPU", phase, seconds, jvm_cpu)
    return result, row


def _throughput(rows: int, seconds: float, jvm_cpu: float) -> dict:
    return {"rows": rows, "rows_per_s": round(rows / seconds, 1),
            "rows_per_jvm_cpu_s": round(rows / jvm_cpu, 1) if jvm_cpu > 0 else None}


def run(args: argparse.Namespace) -> tuple[list[dict], dict]:
    from bigseg.config import (
        PathsConfig,
        SourceConfig,
        SparkConfig,
        SyntheticConfig,
        TableSourceConfig,
    )
    from bigseg.data.load import load_sources
    from bigseg.data.synthetic import generate
    from bigseg.io.contracts import TABLE_ORDER
    from bigseg.session import get_spark

    synthetic = SyntheticConfig(n_customers=args.customers, seed=args.seed,
                                activity_scale=args.activity_scale, dirty_share=args.dirty_share)
    spark = get_spark(SparkConfig(
        master=f"local[{args.partitions}]", driver_memory=args.driver_memory,
        show_progress=False, log_level="ERROR", conf={"spark.ui.enabled": "false"},
    ))
    cpu = _JvmCpu()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_data-", dir="/tmp"))
    data = workdir / "data"
    rows: list[dict] = []
    try:
        tables = {n: df for n, df in generate(spark, synthetic).items() if n in TABLE_ORDER}

        def write() -> None:
            for name, df in tables.items():
                df.write.mode("overwrite").parquet(str(data / name))

        def noop() -> None:
            for df in tables.values():
                df.write.format("noop").mode("overwrite").save()

        _, row = timed("generate + write parquet", write, cpu)
        rows.append(row)
        if args.noop:
            _, row = timed("generate (noop)", noop, cpu)
            rows.append(row)
        source = SourceConfig(
            kind="files", max_quarantine_share=1.0,
            **{n: TableSourceConfig(path=str(data / n)) for n in TABLE_ORDER},
        )
        paths = PathsConfig(root=str(workdir), quarantine=str(workdir / "quarantine"),
                            reports=str(workdir / "reports"))
        loaded, row = timed("read + validate + quarantine",
                            lambda: load_sources(spark, source, paths), cpu)
        rows.append(row)
        report = loaded.report.to_dict()
        per_table = {n: r["rows_in"] for n, r in report.items()}
        total = sum(per_table.values())
        for row in rows:  # row counts are known once validation has counted them
            row.update(_throughput(total, row["seconds"], row["jvm_cpu_s"]))
        summary = {
            "customers": args.customers,
            "synthetic": asdict(synthetic),
            "master": spark.sparkContext.master,
            "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
            "rows_per_table": per_table,
            "rows_total": total,
            "events_plus_transactions": per_table.get("events", 0)
            + per_table.get("transactions", 0),
            "rows_quarantined": {n: r["rows_quarantined"] for n, r in report.items()},
            "quarantined_by_reason": {n: r["by_reason"] for n, r in report.items()},
            "rows_per_s": {row["phase"]: row["rows_per_s"] for row in rows},
        }
        loaded.unpersist()
        return rows, summary
    finally:
        if not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(workdir / "quarantine", ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    header = {**run_header(), "args": {k: str(v) for k, v in vars(args).items()}}
    rows, summary = run(args)
    log.info("\n%s", format_rows(rows, ["phase", "rows", "seconds", "rows_per_s", "jvm_cpu_s",
                                        "rows_per_jvm_cpu_s", "load_1m_after", "peak_jvm_mb"]))
    log.info("%s customers, %s rows (%s events + transactions)", f"{summary['customers']:,}",
             f"{summary['rows_total']:,}", f"{summary['events_plus_transactions']:,}")
    write_results("bench_data-quick" if args.quick else "bench_data", header, rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
