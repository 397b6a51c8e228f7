"""Dynamic segmentation against the synthetic generator's planted drift.

Each version's segments are labelled with the planted segment most of their customers
belong to at that date; a planted move A -> B is then read off the reported migration
matrix as the share of the segment labelled A that went to the segment labelled B.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bigseg.effects.dynamic import DatedVersion, DynamicReport


def planted_segment_at(truth: DataFrame, moves: DataFrame, day) -> DataFrame:
    """Every customer's planted segment as of ``day`` (customer_id, segment): the segment
    moved to when the move happened before that day."""
    moved = moves.select("customer_id", "to_segment", "moved_at")
    return truth.join(moved, "customer_id", "left").select(
        "customer_id",
        F.when(F.col("moved_at") < F.lit(day).cast("timestamp"), F.col("to_segment"))
        .otherwise(F.col("segment")).alias("segment"))


def planted_labels(spark: SparkSession, version: DatedVersion, truth: DataFrame,
                   moves: DataFrame) -> dict[int, str]:
    """Segment id -> the planted segment holding most of its customers at that date."""
    planted = planted_segment_at(truth, moves, version.as_of)
    counts = (spark.read.parquet(version.path).join(planted, "customer_id")
              .groupBy("segment_id", "segment").count().toPandas())
    best = counts.sort_values("count", ascending=False).drop_duplicates("segment_id")
    return {int(r.segment_id): str(r.segment) for r in best.itertuples(index=False)}


def recovered_migrations(spark: SparkSession, report: DynamicReport, truth: DataFrame,
                         moves: DataFrame, planted: DataFrame) -> pd.DataFrame:
    """Per consecutive pair of dates and planted move with a fixed date between them:
    the planted rate, the realised share of movers, and the rate the migration matrix
    reports between the segments labelled with the two planted segments."""
    plan = planted.toPandas()
    labels = [planted_labels(spark, v, truth, moves) for v in report.versions]
    rows = []
    for i, migration in enumerate(report.migrations):
        a, b = report.versions[i], report.versions[i + 1]
        shares = migration.shares
        for m in plan.itertuples(index=False):
            if m.at is None or pd.isna(m.at) or not a.as_of <= m.at < b.as_of:
                continue
            from_ids = [s for s, name in labels[i].items() if name == m.from_segment]
            to_ids = [s for s, name in labels[i + 1].items() if name == m.to_segment]
            counts = migration.counts
            rows_from = counts.loc[[s for s in from_ids if s in counts.index]]
            moved = rows_from[[s for s in to_ids if s in counts.columns]].to_numpy().sum()
            total = rows_from.to_numpy().sum()
            rows.append({
                "from_as_of": str(a.as_of), "to_as_of": str(b.as_of),
                "from_segment": m.from_segment, "to_segment": m.to_segment,
                "planted_rate": float(m.rate),
                "recovered_rate": moved / total if total else float("nan"),
                "segments_from": from_ids, "segments_to": to_ids,
                "stayed_share": float(shares.loc[from_ids[0], from_ids[0]])
                if from_ids and from_ids[0] in shares.columns else float("nan"),
            })
    return pd.DataFrame(rows)
