"""Feature build throughput: bigseg's build_features against a hand-written Spark SQL RFM.

The synthetic shop (bigseg.data.synthetic) is generated once into Parquet under
``--data-dir`` (reused when present, so generation is never timed); every system then
reads the same files on local[N]:

- ``bigseg features``: ``build_features`` with all tables and the default config (every
  window, channel, category, event type, profile encoding, RFM, CLV, scaling), the
  result written to Spark's ``noop`` sink. Throughput = input rows (all four tables)/s.
- ``bigseg rfm part``: what bigseg does to get RFM: identity resolution, the one
  transaction aggregation (all windows, channels, categories), approximate-quantile cut
  points, scores; written to ``noop``.
- ``bigseg rfm part (minimal config)``: the same with one window and no channel or
  category columns, to show what the two-stage (customer-day, customer) plan costs.
- ``hand-written sql rfm``: one SQL query: identity join, ``max(ts)``, ``count``,
  ``sum(amount)`` per customer, ``percentile_approx`` cut points, scores; ``noop``.

The RFM rows run on the transactions and identities tables; their throughput counts
those rows. The issue's target: bigseg's RFM part at most 1.5x the hand-written query.

Usage: ``python -m benchmarks.bench_features [--quick] [--customers N] [--partitions 2]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from benchmarks.common import MemorySampler, format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.features")

TABLES = ("customers", "identities", "transactions", "events")
AS_OF = "2025-10-01"


def _noop(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def prepare_data(spark, data_dir: Path, customers: int, activity_scale: float) -> dict:
    """Generate the synthetic tables into Parquet once; return them read back."""
    from bigseg.config import SyntheticConfig
    from bigseg.data.synthetic import generate

    marker = data_dir / "_COMPLETE"
    if not marker.exists():
        log.info("generating %d customers into %s", customers, data_dir)
        tables = generate(spark, SyntheticConfig(n_customers=customers, seed=7,
                                                 start="2024-01-01", end="2025-12-31",
                                                 activity_scale=activity_scale, dirty_share=0.0))
        for name in TABLES:
            tables[name].write.mode("overwrite").parquet(str(data_dir / name))
        marker.write_text("ok")
    return {name: spark.read.parquet(str(data_dir / name)) for name in TABLES}


def hand_written_rfm(spark, tables: dict) -> None:
    """The minimal RFM a data engineer would write by hand, in Spark SQL."""
    for name in ("transactions", "identities"):
        tables[name].createOrReplaceTempView(f"bench_{name}")
    sql = f"""
    WITH rfm AS (
      SELECT i.customer_id,
             datediff(DATE '{AS_OF}', to_date(max(t.ts))) AS recency,
             count(*) AS frequency,
             sum(t.amount) AS monetary
      FROM bench_transactions t
      JOIN bench_identities i ON t.channel = i.channel AND t.channel_id = i.channel_id
      WHERE t.ts < TIMESTAMP '{AS_OF}' AND t.amount > 0
      GROUP BY i.customer_id),
    q AS (
      SELECT percentile_approx(recency, array(0.2, 0.4, 0.6, 0.8)) AS qr,
             percentile_approx(frequency, array(0.2, 0.4, 0.6, 0.8)) AS qf,
             percentile_approx(monetary, array(0.2, 0.4, 0.6, 0.8)) AS qm
      FROM rfm)
    SELECT customer_id,
           1 + int(recency < qr[0]) + int(recency < qr[1]) + int(recency < qr[2]) + int(recency < qr[3]) AS r,
           1 + int(frequency > qf[0]) + int(frequency > qf[1]) + int(frequency > qf[2]) + int(frequency > qf[3]) AS f,
           1 + int(monetary > qm[0]) + int(monetary > qm[1]) + int(monetary > qm[2]) + int(monetary > qm[3]) AS m
    FROM rfm CROSS JOIN q
    """
    _noop(spark.sql(sql))


def bigseg_rfm(tables: dict, cfg) -> None:
    """bigseg's RFM path: resolve, aggregate transactions, cache, cut points, scores."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from bigseg.features import identity, value
    from bigseg.features.behaviour import (
        ActivityLevels,
        aggregate_transactions,
        discover_transaction_levels,
    )
    from bigseg.features.build import resolve_as_of

    as_of_day = (resolve_as_of(AS_OF) - resolve_as_of("1970-01-01")).days
    channels, categories = discover_transaction_levels(tables["transactions"], as_of_day, cfg)
    levels = ActivityLevels(channels=tuple(channels), categories=tuple(categories))
    attached = identity.attach(tables["transactions"], identity.resolve(tables["identities"]),
                               "transactions")
    agg = aggregate_transactions(attached, as_of_day, cfg, levels).where(
        F.col("customer_id").isNotNull())
    raw = agg.select(
        "customer_id",
        (F.lit(as_of_day) - F.col("tx_last_day")).alias("recency_days"),
        F.col("tx_count").cast("double").alias("frequency"),
        F.col("tx_revenue").alias("monetary"),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    has_purchase = F.col("frequency") > 0
    cuts = value.fit_cut_points(raw, has_purchase, cfg.rfm_bins, cfg.quantile_accuracy)
    scores = [d.expr.alias(d.name) for d in value.rfm_features(cuts, has_purchase)]
    _noop(raw.select("customer_id", *scores))
    raw.unpersist()


def bigseg_features(spark, tables: dict, cfg) -> dict:
    from bigseg.features.build import build_features

    fs = build_features(spark, tables, cfg)
    _noop(fs.df)
    timings = dict(fs.timings)
    n_features = len(fs.metadata.vector_names)
    fs.unpersist()
    return {"n_features": n_features, "steps": timings}


def timed(name: str, rows_in: int, fn, repeats: int) -> dict:
    seconds = []
    extra: dict = {}
    with MemorySampler() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            extra = fn() or {}
            seconds.append(time.perf_counter() - start)
    best = min(seconds)
    row = {"system": name, "input_rows": rows_in, "seconds": round(best, 3),
           "seconds_all": [round(s, 3) for s in seconds],
           "rows_per_s": round(rows_in / best, 1), **memory.as_dict()}
    row.update({k: v for k, v in extra.items() if k != "steps"})
    if "steps" in extra:
        row["steps_s"] = extra["steps"]
    log.info("%s: %.2f s (%s rows/s)", name, best, f"{rows_in / best:,.0f}")
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--activity-scale", type=float, default=1.0,
                        help="rows per customer multiplier of the synthetic generator")
    parser.add_argument("--partitions", type=int, default=2, help="local[N]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Parquet cache of the generated tables (default: outputs/bench-data)")
    parser.add_argument("--systems", default="features,rfm,rfm-minimal,sql")
    parser.add_argument("--quick", action="store_true",
                        help="20k customers, one repeat: checks the benchmark runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers, args.repeats = 20_000, 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from bigseg.config import FeaturesConfig, SparkConfig
    from bigseg.session import get_spark

    data_dir = args.data_dir or Path("outputs") / "bench-data" / (
        f"features-{args.customers}-{args.activity_scale:g}")
    data_dir = data_dir.resolve()
    spark = get_spark(SparkConfig(
        master=f"local[{args.partitions}]", driver_memory=args.driver_memory,
        shuffle_partitions=max(4, 4 * args.partitions), show_progress=False, log_level="ERROR",
        conf={"spark.ui.enabled": "false"},
    ))
    tables = prepare_data(spark, data_dir, args.customers, args.activity_scale)
    sizes = {name: df.count() for name, df in tables.items()}
    log.info("input rows: %s", sizes)
    all_rows = sum(sizes.values())
    rfm_rows = sizes["transactions"] + sizes["identities"]
    cfg = FeaturesConfig(as_of=AS_OF)
    minimal = FeaturesConfig(as_of=AS_OF, windows_days=[30], channels=[], categories=[])

    systems = set(args.systems.split(","))
    rows = []
    # The SQL baseline first and last would both be fair; first also warms the JVM.
    if "sql" in systems:
        rows.append(timed("hand-written sql rfm", rfm_rows,
                          lambda: hand_written_rfm(spark, tables), args.repeats))
    if "rfm" in systems:
        rows.append(timed("bigseg rfm part", rfm_rows, lambda: bigseg_rfm(tables, cfg),
                          args.repeats))
    if "rfm-minimal" in systems:
        rows.append(timed("bigseg rfm part (minimal config)", rfm_rows,
                          lambda: bigseg_rfm(tables, minimal), args.repeats))
    if "features" in systems:
        rows.append(timed("bigseg features", all_rows,
                          lambda: bigseg_features(spark, tables, cfg), args.repeats))

    by_name = {r["system"]: r for r in rows}
    summary = {"customers": args.customers, "input_rows": sizes, "partitions": args.partitions,
               "as_of": AS_OF}
    base = by_name.get("hand-written sql rfm")
    for name in ("bigseg rfm part", "bigseg rfm part (minimal config)", "bigseg features"):
        if base and name in by_name:
            summary[f"{name} / sql rfm time"] = round(by_name[name]["seconds"] / base["seconds"], 3)
    print(format_rows(rows, ["system", "input_rows", "seconds", "rows_per_s",
                             "peak_jvm_mb", "peak_python_workers_total_mb"]))
    print({k: v for k, v in summary.items() if "/" in k})
    name = "features-quick" if args.quick else "features"
    write_results(name, {**run_header(), "args": {k: str(v) for k, v in vars(args).items()}},
                  rows, summary)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
