"""Bad rows for the synthetic tables: every kind of contract violation validation knows.

A row is turned bad with probability ``share`` (a hash of seed, table and the row's key,
so partition-independent); a second hash picks which kind. ``duplicate_key`` emits the
chosen row twice instead of changing it (validation keeps one and
quarantines the other). Each kind is named after the reason validation gives it, so
tests can check that every kind lands in quarantine under its own reason.

Not generated: ``unparseable_*`` (typed frames cannot hold an unparseable value; the
readers' tests cover it with text files).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.data.hashing import uniform
from bigseg.io.contracts import get_contract

FUTURE = "2099-06-30 12:00:00"


def _future() -> Column:
    # Built per call: column expressions need an active SparkContext.
    return F.lit(FUTURE).cast("timestamp")


def _null(dtype: str) -> Column:
    return F.lit(None).cast(dtype)


def _kinds(table: str, col) -> dict[str, dict[str, Column]]:
    """Per kind: the columns it replaces. ``col`` is F.col; ``duplicate_key`` changes none."""
    if table == "customers":
        return {
            "null_key": {"customer_id": _null("string")},
            "duplicate_key": {},
            "age_out_of_range": {"age": F.lit(121) + F.abs(col("age"))},
            "future_signup_date": {"signup_date": F.to_date(_future())},
            "income_invalid": {"income": -F.abs(col("income")) - F.lit(1.0)},
            "city_tier_out_of_range": {"city_tier": F.lit(7)},
        }
    if table == "identities":
        return {
            "null_key": {"channel_id": _null("string")},
            "duplicate_key": {},
            "null_customer_id": {"customer_id": _null("string")},
            "unknown_customer_id": {"customer_id": F.concat(F.lit("UNKNOWN-"), col("customer_id"))},
        }
    if table == "transactions":
        return {
            "null_key": {"transaction_id": _null("string")},
            "duplicate_key": {},
            "null_ts": {"ts": _null("timestamp")},
            "future_ts": {"ts": _future()},
            "amount_not_finite": {"amount": F.lit(float("nan"))},
            "negative_amount_not_return": {
                "amount": -F.abs(col("amount")) - F.lit(0.01),
                "quantity": F.abs(col("quantity")),
            },
            "negative_quantity_not_return": {
                "quantity": -F.abs(col("quantity")),
                "amount": F.abs(col("amount")),
            },
            "discount_out_of_range": {"discount": F.lit(1.5)},
            "unknown_channel_id": {"channel_id": F.concat(F.lit("UNKNOWN-"), col("channel_id"))},
            "null_channel_id": {"channel_id": _null("string")},
        }
    if table == "events":
        return {
            "null_key": {"event_id": _null("string")},
            "duplicate_key": {},
            "null_ts": {"ts": _null("timestamp")},
            "future_ts": {"ts": _future()},
            "unknown_channel_id": {"channel_id": F.concat(F.lit("UNKNOWN-"), col("channel_id"))},
            "null_event_type": {"event_type": _null("string")},
        }
    if table == "campaign_outcomes":
        return {
            "null_key": {"campaign_id": _null("string")},
            "duplicate_key": {},
            "null_treated": {"treated": _null("boolean")},
            "revenue_invalid": {"revenue": F.lit(-1.0) - F.abs(col("revenue"))},
            "unknown_customer_id": {"customer_id": F.concat(F.lit("UNKNOWN-"), col("customer_id"))},
            "future_ts": {"ts": _future()},
        }
    raise ValueError(f"no dirty kinds for table {table!r}")


def kinds(table: str) -> list[str]:
    """The reasons the dirty rows of ``table`` should be quarantined under."""
    return list(_kinds(table, F.col))


def inject(table: str, df: DataFrame, seed: int, share: float) -> DataFrame:
    """Turn about ``share`` of ``df``'s rows bad, spread evenly over the table's kinds."""
    if share <= 0:
        return df
    contract = get_contract(table)
    table_kinds = _kinds(table, F.col)
    names = list(table_kinds)
    keys = [F.col(k) for k in contract.keys]
    picked = uniform(seed, f"dirty:{table}", *keys) < F.lit(share)
    kind = F.floor(uniform(seed, f"dirty-kind:{table}", *keys) * F.lit(len(names))).cast("int")
    df = df.withColumn("_dirty_kind", F.when(picked, kind))
    out = []
    for c in df.columns:
        if c == "_dirty_kind":
            continue
        expr = F.col(c)
        for i, name in enumerate(names):
            if c in table_kinds[name]:
                expr = F.when(F.col("_dirty_kind") == i, table_kinds[name][c]).otherwise(expr)
        out.append(expr.alias(c))
    # A duplicate is the same row emitted twice by one generator (explode of [0, 1]):
    # a union with a filtered copy would generate the whole table a second time.
    copies = F.when(F.col("_dirty_kind") == names.index("duplicate_key"), F.lit(1)).otherwise(
        F.lit(0)
    )
    return df.select(*out, F.explode(F.sequence(F.lit(0), copies)).alias("_copy")).drop("_copy")
