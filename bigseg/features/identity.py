"""Identity resolution: channel ids (cookie, device, loyalty card, phone) -> customer_id.

Activity tables (transactions, events) key their rows by ``(channel, channel_id)``; the
identities table maps each such pair to one ``customer_id``. Rows whose pair has no
mapping, or a pair that maps to more than one customer, cannot be attributed: they keep
a ``_reason`` and are quarantined (never dropped), and the feature aggregates count them
in the same pass that builds the features. A customer seen on several channels ends up
as one row because every aggregate groups by the resolved ``customer_id``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

UNKNOWN_CHANNEL_ID = "unknown_channel_id"
AMBIGUOUS_CHANNEL_ID = "ambiguous_channel_id"
NULL_TS = "null_ts"
# Column added by attach(): null for usable rows, the quarantine reason otherwise.
REASON = "_reason"
KEYS = ("channel", "channel_id")


def resolve(identities: DataFrame) -> DataFrame:
    """One row per (channel, channel_id): its customer_id, or null when ambiguous.

    Duplicate rows mapping a pair to the same customer are harmless and collapse;
    a pair claimed by two customers is kept with ``ambiguous = true`` so rows on it are
    quarantined with a reason rather than credited to an arbitrary customer.
    """
    missing = [c for c in (*KEYS, "customer_id") if c not in identities.columns]
    if missing:
        raise ValueError(
            f"identities lacks columns {missing}; it needs channel, channel_id, customer_id"
        )
    grouped = identities.where(F.col("customer_id").isNotNull()).groupBy(*KEYS).agg(
        F.min("customer_id").alias("_cid_min"), F.max("customer_id").alias("_cid_max")
    )
    ambiguous = F.col("_cid_min") != F.col("_cid_max")
    return grouped.select(
        *KEYS,
        F.when(~ambiguous, F.col("_cid_min")).alias("customer_id"),
        ambiguous.alias("_ambiguous"),
    )


def attach(activity: DataFrame, resolved: DataFrame, table: str) -> DataFrame:
    """``activity`` with ``customer_id`` and ``_reason`` (null = usable row).

    A left join: every input row stays, so ``rows_in`` of the table can be accounted for
    as used + quarantined + after as_of.
    """
    missing = [c for c in (*KEYS, "ts") if c not in activity.columns]
    if missing:
        raise ValueError(f"{table} lacks columns {missing}; see bigseg.io.contracts")
    if "customer_id" in activity.columns:
        raise ValueError(
            f"{table} already has a customer_id column; activity tables are keyed by "
            f"(channel, channel_id) and resolved through identities"
        )
    joined = activity.join(resolved, list(KEYS), "left")
    return joined.withColumn(REASON, reason(F.col("customer_id"), F.col("_ambiguous"))).drop(
        "_ambiguous"
    )


def reason(customer_id: Column, ambiguous: Column) -> Column:
    """The quarantine reason of an attached row (null when the row is usable)."""
    return (
        F.when(ambiguous.isNotNull() & ambiguous, F.lit(AMBIGUOUS_CHANNEL_ID))
        .when(customer_id.isNull(), F.lit(UNKNOWN_CHANNEL_ID))
        .when(F.col("ts").isNull(), F.lit(NULL_TS))
    )


def quarantine(attached: DataFrame, table: str) -> DataFrame:
    """The rows of ``attached`` that could not be used, in bigseg's quarantine layout.

    Columns ``table, reason, reasons, row`` (``row`` = the source row as JSON), as
    bigseg.io.validation writes them, so one quarantine store holds both.
    """
    source = [c for c in attached.columns if c not in ("customer_id", REASON)]
    return attached.where(F.col(REASON).isNotNull()).select(
        F.lit(table).alias("table"),
        F.col(REASON).alias("reason"),
        F.array(F.col(REASON)).alias("reasons"),
        F.to_json(F.struct(*source)).alias("row"),
    )
