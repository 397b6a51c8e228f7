"""Throughput of the data layer: synthetic generation and validation, rows per second.

Three timed phases on one SparkSession (local[2] by default):

1. ``generate``: every contract table computed in full and discarded (Spark's ``noop``
   sink), so the figure is the generator alone;
2. ``write``: the same tables generated again and written as Parquet;
3. ``validate``: ``load_sources`` over those Parquet files (kind ``files``): read,
   validate every rule, write the quarantine and the report.

Rows are the rows of the five contract tables (generated with the configured
``dirty_share``, so validation quarantines rows on every run). Results go to
``benchmarks/results/bench_data-<timestamp>.json``.

    python benchmarks/bench_data.py --customers 1000000
    python benchmarks/bench_data.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("bench_data")

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_CUSTOMERS = 20_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to generate")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CUSTOMERS:,} customers, for a smoke run"
    )
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument(
        "--partitions", type=int, default=None, help="generator partitions (default: cores)"
    )
    parser.add_argument("--dirty-share", type=float, default=None, help="default: the config's")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workdir", default=None, help="where the Parquet goes (default: a temp dir)"
    )
    parser.add_argument("--output", default=str(RESULTS), help="folder of the JSON results")
    return parser.parse_args(argv)


def _git_hash() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    log.info("%s: %.1f s", label, seconds)
    return result, seconds


def run(args: argparse.Namespace) -> dict:
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

    customers = QUICK_CUSTOMERS if args.quick else args.customers
    synthetic = SyntheticConfig(n_customers=customers, seed=args.seed, partitions=args.partitions)
    if args.dirty_share is not None:
        synthetic = replace(synthetic, dirty_share=args.dirty_share)
    spark = get_spark(
        SparkConfig(
            master=args.master,
            app_name="bench_data",
            show_progress=False,
            log_level="ERROR",
            conf={"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory},
        )
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_data-"))
    try:
        tables = {n: df for n, df in generate(spark, synthetic).items() if n in TABLE_ORDER}

        def noop() -> None:
            for df in tables.values():
                df.write.format("noop").mode("overwrite").save()

        def write() -> None:
            for name, df in tables.items():
                df.write.mode("overwrite").parquet(str(workdir / "data" / name))

        _, t_generate = _timed("generate (noop sink)", noop)
        _, t_write = _timed("generate + write Parquet", write)
        source = SourceConfig(
            kind="files",
            max_quarantine_share=1.0,
            **{n: TableSourceConfig(path=str(workdir / "data" / n)) for n in TABLE_ORDER},
        )
        paths = PathsConfig(
            root=str(workdir),
            quarantine=str(workdir / "quarantine"),
            reports=str(workdir / "reports"),
        )
        loaded, t_validate = _timed(
            "read + validate + write quarantine", lambda: load_sources(spark, source, paths)
        )
        report = loaded.report.to_dict()
        rows = {n: r["rows_in"] for n, r in report.items()}
        total = sum(rows.values())
        result = {
            "benchmark": "bench_data",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git": _git_hash(),
            "python": platform.python_version(),
            "spark": spark.version,
            "master": spark.sparkContext.master,
            "default_parallelism": spark.sparkContext.defaultParallelism,
            # Other work on the machine skews every figure: keep the load beside them.
            "load_average_1m_end": os.getloadavg()[0],
            "customers": customers,
            "synthetic": asdict(synthetic),
            "rows": rows,
            "rows_total": total,
            "events_plus_transactions": rows.get("events", 0) + rows.get("transactions", 0),
            "rows_quarantined": {n: r["rows_quarantined"] for n, r in report.items()},
            "seconds": {"generate": t_generate, "generate_write": t_write, "validate": t_validate},
            "rows_per_s": {
                "generate": total / t_generate,
                "generate_write": total / t_write,
                "validate": total / t_validate,
            },
        }
        loaded.unpersist()
        return result
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    result = run(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"bench_data-{result['customers']}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True))
    rps = result["rows_per_s"]
    print(
        f"{result['customers']:,} customers, {result['rows_total']:,} rows: generate "
        f"{rps['generate']:,.0f} rows/s, generate+write {rps['generate_write']:,.0f} rows/s, "
        f"validate {rps['validate']:,.0f} rows/s -> {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
