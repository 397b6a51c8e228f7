"""The features suite: bench_features' systems on the base workers, same data files.

- ``sql``: the hand-written Spark SQL RFM; ``rfm``: bigseg's RFM part; ``rfm-minimal``:
  the same with one window and no channel/category columns; ``features``: the full
  ``build_features`` (every feature family). See benchmarks/bench_features.py.

The synthetic shop is generated once per size into ``data_dir`` (not timed). Throughput
``points_per_s`` counts input rows (transactions + identities for the RFM systems, all
four tables for ``features``); ``customers_per_s`` counts customers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from benchmarks import bench_features
from benchmarks.context import RunContext

log = logging.getLogger("bigseg.benchmarks.features")

LABELS = {
    "sql": "hand-written sql rfm",
    "rfm": "bigseg rfm part",
    "rfm-minimal": "bigseg rfm part (minimal config)",
    "features": "bigseg features",
}


def data_dir(ctx: RunContext) -> Path:
    root = Path(ctx.cfg.data_dir) if ctx.cfg.data_dir else Path(
        os.environ.get("BIGSEG_HOME", "outputs")) / "bench-data"
    fc = ctx.cfg.features
    return (root / f"features-{fc.customers}-{fc.activity_scale:g}").resolve()


def run(ctx: RunContext) -> list[dict]:
    from bigseg.config import FeaturesConfig

    fc = ctx.cfg.features
    spark = ctx.spark()
    tables = bench_features.prepare_data(spark, data_dir(ctx), fc.customers, fc.activity_scale)
    sizes = {name: df.count() for name, df in tables.items()}
    log.info("features suite input rows: %s", sizes)
    rfm_rows = sizes["transactions"] + sizes["identities"]
    full = FeaturesConfig(as_of=bench_features.AS_OF)
    minimal = FeaturesConfig(as_of=bench_features.AS_OF, windows_days=[30], channels=[],
                             categories=[])
    work = {
        "sql": (rfm_rows, lambda: bench_features.hand_written_rfm(spark, tables)),
        "rfm": (rfm_rows, lambda: bench_features.bigseg_rfm(tables, full)),
        "rfm-minimal": (rfm_rows, lambda: bench_features.bigseg_rfm(tables, minimal)),
        "features": (sum(sizes.values()),
                     lambda: bench_features.bigseg_features(spark, tables, full)),
    }
    rows = []
    for step, system in enumerate(fc.systems, start=1):
        log.info("features [%d/%d] %s on %d customers, %s", step, len(fc.systems), system,
                 fc.customers, ctx.base_workers.spec)
        rows_in, fn = work[system]
        result = bench_features.timed(LABELS[system], rows_in, fn, fc.repeats)
        seconds = result.pop("seconds")
        result.update(
            label=result.pop("system"), system=system, suite="features",
            customers=fc.customers, total_s=seconds, per_iter_s=None,
            points_per_s=result.pop("rows_per_s"), customers_per_s=fc.customers / seconds,
            gflops=None, inertia=None, workers=ctx.base_workers.count,
            workers_spec=ctx.base_workers.spec, workers_kind=ctx.base_workers.kind,
            input_rows_by_table=sizes,
        )
        rows.append(result)
    return rows


def summarise(rows: list[dict]) -> dict:
    base = next((r for r in rows if r["system"] == "sql"), None)
    if base is None:
        return {}
    return {f"{r['system']}_over_sql_time": round(r["total_s"] / base["total_s"], 3)
            for r in rows if r is not base}
