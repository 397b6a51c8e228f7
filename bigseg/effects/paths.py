"""What each migration path is worth, and which segments grow or shrink.

``path_values`` joins two versions' assignments (with each customer's CLV at that date)
and the revenue between the dates, and aggregates per (segment before, segment after):
one Spark job, k x k' rows to the driver. ``segment_trends`` is pandas on the versions'
segment sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Path ends of customers present in one version only.
NEW, GONE = -1, -2
GROWING, SHRINKING, STABLE, APPEARED, RETIRED = (
    "growing", "shrinking", "stable", "new", "retired",
)


def revenue_between(transactions: DataFrame, identities: DataFrame, start: date,
                    end: date) -> DataFrame:
    """Revenue per customer from transactions with start <= ts < end (UTC days)."""
    return (transactions.where((F.col("ts") >= F.lit(start).cast("timestamp"))
                               & (F.col("ts") < F.lit(end).cast("timestamp")))
            .join(identities.select("channel", "channel_id", "customer_id"),
                  ["channel", "channel_id"])
            .groupBy("customer_id").agg(F.sum("amount").alias("revenue")))


def path_values(before: DataFrame, after: DataFrame, revenue: DataFrame | None = None,
                clv_col: str | None = "clv") -> pd.DataFrame:
    """Per (segment before, segment after): customers, their share of the segment before,
    revenue between the versions (total and per customer), mean CLV before and after, and
    the change of the path's total CLV.

    ``before``/``after``: customer_id, segment_id, segment_name and, optionally,
    ``clv_col``. ``revenue``: customer_id, revenue. Customers in one version only go
    from ``NEW`` (-1, "(new)") or to ``GONE`` (-2, "(gone)").
    """
    def side(df: DataFrame, tag: str) -> DataFrame:
        has_clv = clv_col is not None and clv_col in df.columns
        return df.select(
            "customer_id", F.col("segment_id").cast("long").alias(f"s_{tag}"),
            F.col("segment_name").cast("string").alias(f"n_{tag}"),
            (F.col(clv_col) if has_clv else F.lit(None)).cast("double").alias(f"clv_{tag}"))

    joined = side(before, "before").join(side(after, "after"), "customer_id", "full_outer")
    if revenue is not None:
        joined = joined.join(revenue.select("customer_id", "revenue"), "customer_id", "left")
    else:
        joined = joined.withColumn("revenue", F.lit(None).cast("double"))
    joined = joined.withColumns({
        "s_before": F.coalesce("s_before", F.lit(NEW)), "n_before": F.coalesce(
            "n_before", F.lit("(new)")),
        "s_after": F.coalesce("s_after", F.lit(GONE)), "n_after": F.coalesce(
            "n_after", F.lit("(gone)")),
    })
    rows = (joined.groupBy("s_before", "n_before", "s_after", "n_after")
            .agg(F.count(F.lit(1)).alias("customers"),
                 F.sum(F.coalesce("revenue", F.lit(0.0))).alias("revenue"),
                 F.avg("clv_before").alias("clv_before"), F.avg("clv_after").alias("clv_after"),
                 F.sum("clv_before").alias("_clv_before_sum"),
                 F.sum("clv_after").alias("_clv_after_sum"))
            .toPandas())
    rows = rows.rename(columns={"s_before": "segment_before", "n_before": "name_before",
                                "s_after": "segment_after", "n_after": "name_after"})
    totals = rows.groupby("segment_before")["customers"].transform("sum")
    rows["share"] = rows["customers"] / totals
    rows["revenue_per_customer"] = rows["revenue"] / rows["customers"]
    rows["clv_change"] = (rows.pop("_clv_after_sum").fillna(0.0)
                          - rows.pop("_clv_before_sum").fillna(0.0))
    rows["path"] = rows["name_before"] + " -> " + rows["name_after"]
    order = ["segment_before", "name_before", "segment_after", "name_after", "path",
             "customers", "share", "revenue", "revenue_per_customer", "clv_before",
             "clv_after", "clv_change"]
    return rows[order].sort_values(["segment_before", "segment_after"]).reset_index(drop=True)


def segment_trends(sizes: Sequence[Mapping[int, int]], labels: Sequence[str],
                   names: Mapping[int, str] | None = None,
                   threshold: float = 0.1) -> pd.DataFrame:
    """Per version (``labels``, e.g. dates) and segment id: size, share, change against the
    previous version and a trend: growing / shrinking (relative change beyond
    ``threshold``), stable, new (absent before) or retired (absent now)."""
    if len(sizes) != len(labels):
        raise ValueError(f"sizes ({len(sizes)}) and labels ({len(labels)}) should match")
    if not threshold >= 0:
        raise ValueError(f"threshold={threshold} should be >= 0")
    names = dict(names or {})
    records = []
    for i, (label, current) in enumerate(zip(labels, sizes, strict=True)):
        previous = sizes[i - 1] if i else None
        total = sum(current.values())
        ids = sorted(set(current) | set(previous or {}))
        for sid in ids:
            size = int(current.get(sid, 0))
            before = None if previous is None else int(previous.get(sid, 0))
            if before is None:
                change, rel, trend = np.nan, np.nan, STABLE
            else:
                change = size - before
                rel = change / before if before else np.nan
                if before == 0:
                    trend = APPEARED
                elif size == 0:
                    trend = RETIRED
                elif rel > threshold:
                    trend = GROWING
                elif rel < -threshold:
                    trend = SHRINKING
                else:
                    trend = STABLE
            records.append({"version": label, "segment_id": int(sid),
                            "segment_name": names.get(sid, f"segment_{sid}"), "size": size,
                            "share": size / total if total else np.nan,
                            "change": change, "relative_change": rel, "trend": trend})
    return pd.DataFrame(records)
