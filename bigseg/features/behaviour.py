"""Windowed behaviour per customer, overall and per channel, in one pass per input table.

Transactions are aggregated in two stages over one scan: first per (customer, day), which
merges several purchases on one day (the CLV convention, and what "active days" means),
then per customer with conditional aggregation: every window, channel and category is a
``sum(when(...))`` inside the same ``groupBy``, never a pass per feature. Events need
no day stage and are aggregated per customer in one ``groupBy``.

Point in time: a day is ``floor(unix_seconds(ts) / 86400)`` (UTC), ``as_of`` is a UTC
midnight, and a row counts only when its day is before ``as_of``'s day, i.e. its
timestamp is strictly before ``as_of``. A window of ``w`` days holds the days
``as_of - w .. as_of - 1``. Rows at or after ``as_of`` and quarantined rows stay in the
scan: the same aggregation counts them for the ``rows_in`` bookkeeping.

Aggregate columns are prefixed ``tx_`` and ``ev_``; the features derived from them are
described by :class:`~bigseg.features.spec.FeatureDef` objects (``transaction_features``,
``event_features``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.config import FeaturesConfig
from bigseg.features.identity import AMBIGUOUS_CHANNEL_ID, NULL_TS, REASON, UNKNOWN_CHANNEL_ID
from bigseg.features.spec import FeatureDef, safe_name

DAY_S = 86_400
_MASK32 = 0xFFFFFFFF
# Distinct purchase months are counted exactly with bit masks (bit_or, a fast declarative
# aggregate, where collect_set would force Spark's slower object aggregation): 4 x 64 bits
# cover the 256 months (21 years) before as_of; older months share the oldest bit.
_MONTH_WORDS = 4
QUARANTINE_REASONS = (UNKNOWN_CHANNEL_ID, AMBIGUOUS_CHANNEL_ID, NULL_TS)


@dataclass(frozen=True)
class ActivityLevels:
    """The values that become columns: learnt once at fit time, reused when applying."""

    channels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    event_channels: tuple[str, ...] = ()


def day_of(ts: Column) -> Column:
    """Days since 1970-01-01 UTC (independent of the session time zone)."""
    return F.floor(F.unix_seconds(ts) / F.lit(DAY_S)).cast("long")


def ratio(num: Column, den: Column) -> Column:
    """num / den, null where den is 0 or null (Spark runs with ANSI division errors)."""
    return F.try_divide(num.cast("double"), den.cast("double"))


def row_hash_parts(columns: Sequence[str]) -> tuple[Column, Column]:
    """The high and low 32 bits of xxhash64 over a row, as non-negative longs.

    Summing the halves separately gives an order-independent content digest whose sums
    cannot overflow a long below 2^31 rows (Spark's ANSI mode fails on overflow).
    """
    h = F.xxhash64(*[F.col(c) for c in columns])
    return F.shiftrightunsigned(h, 32), h.bitwiseAND(F.lit(_MASK32))


def level_columns(levels: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    """(level, column name) pairs with unique names, e.g. ("Call Centre", "ev_call_centre")."""
    seen: dict[str, int] = {}
    pairs = []
    for level in levels:
        name = f"{prefix}{safe_name(level)}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        pairs.append((level, name))
    return pairs


# ---- level discovery (fit time only) -------------------------------------------------------


def before(as_of_day: int) -> Column:
    """Rows strictly before as_of (by timestamp; as_of is a UTC midnight)."""
    return F.unix_seconds(F.col("ts")) < F.lit(as_of_day * DAY_S)


def _totals(rows, key: str, value: str) -> dict:
    """Sum ``value`` per non-null ``key`` over collected aggregate rows."""
    totals: dict = {}
    for row in rows:
        if row[key] is not None:
            totals[row[key]] = totals.get(row[key], 0) + row[value]
    return totals


def _top(totals: dict, n: int) -> list:
    """The ``n`` largest keys; ties broken by name so columns do not depend on row order."""
    return sorted(totals, key=lambda level: (-totals[level], level))[:n]


def discover_transaction_levels(
    transactions: DataFrame, as_of_day: int, cfg: FeaturesConfig
) -> tuple[list, list]:
    """Sales channels and the top ``cfg.top_categories`` categories by revenue.

    One light aggregation over (channel, category, amount) of the rows before as_of
    (levels must not come from the future either); skipped when the config or the
    fitted metadata already name the levels.
    """
    if cfg.channels is not None and (cfg.categories is not None or cfg.top_categories == 0):
        return list(cfg.channels), list(cfg.categories or [])
    rows = (
        transactions.where((F.col("amount") > 0) & before(as_of_day))
        .groupBy("channel", "category")
        .agg(F.sum("amount").alias("revenue"))
        .collect()
    )
    channels = _top(_totals(rows, "channel", "revenue"), cfg.max_levels)
    if cfg.categories is not None:
        categories = list(cfg.categories)
    else:
        categories = _top(_totals(rows, "category", "revenue"), cfg.top_categories)
    return sorted(channels) if cfg.channels is None else list(cfg.channels), categories


def discover_event_levels(
    events: DataFrame, as_of_day: int, cfg: FeaturesConfig
) -> tuple[list, list]:
    """Event types and channels of the events before as_of (the most frequent, capped)."""
    rows = events.where(before(as_of_day)).groupBy("channel", "event_type").count().collect()
    top_types = _top(_totals(rows, "event_type", "count"), cfg.max_levels)
    top_channels = _top(_totals(rows, "channel", "count"), cfg.max_levels)
    event_types = list(cfg.event_types) if cfg.event_types is not None else sorted(top_types)
    return event_types, sorted(top_channels)


# ---- transactions ----------------------------------------------------------------------------


def aggregate_transactions(
    attached: DataFrame,
    as_of_day: int,
    cfg: FeaturesConfig,
    levels: ActivityLevels,
    digest_columns: Sequence[str] | None = None,
) -> DataFrame:
    """Per-customer transaction aggregates (``tx_*``), plus the unattributable rows' group.

    ``attached`` comes from bigseg.features.identity.attach. The result has one row per
    customer_id and one row with a null customer_id holding the counts of rows that could
    not be attributed (callers separate it).
    """
    amount = F.coalesce(F.col("amount"), F.lit(0.0))
    is_return = (amount < 0) | (F.coalesce(F.col("quantity"), F.lit(0)) < 0)
    purchase = ~is_return
    discount = F.coalesce(F.col("discount"), F.lit(0.0))

    def psum(value: Column, cond: Column = purchase) -> Column:
        return F.sum(F.when(cond, value).otherwise(F.lit(0)))

    day_aggs = [
        F.count(F.lit(1)).alias("_n"),
        psum(F.lit(1)).alias("_np"),
        psum(amount).alias("_ap"),
        psum(F.lit(1), is_return).alias("_nr"),
        psum(-amount, is_return).alias("_ar"),
        psum(F.lit(1), purchase & (discount > 0)).alias("_nd"),
        psum(discount).alias("_ds"),
    ]
    for level, col in level_columns(levels.channels, "_c_"):
        on = purchase & (F.col("channel") == level)
        day_aggs += [psum(F.lit(1), on).alias(f"{col}_n"), psum(amount, on).alias(f"{col}_a")]
    for level, col in level_columns(levels.categories, "_k_"):
        day_aggs.append(psum(amount, purchase & (F.col("category") == level)).alias(col))
    if digest_columns:
        hi, lo = row_hash_parts(digest_columns)
        day_aggs += [F.sum(hi).alias("_hh"), F.sum(lo).alias("_hl")]

    # Stage 1: (customer, day); quarantined rows keep their own groups through _reason.
    # One shuffle for both stages: rows are hash-partitioned by customer once, and the
    # customer-day groups and then the customer groups are formed inside the partitions
    # (a partitioning by customer_id satisfies both groupings). Grouping by day first
    # would shuffle twice; map-side combining buys little since a customer rarely has
    # several rows on one day in one input partition.
    daily = (
        attached.repartition("customer_id")
        .withColumn("_day", day_of(F.col("ts")))
        .groupBy("customer_id", "_day", REASON)
        .agg(*day_aggs)
    )

    day = F.col("_day")
    used = F.col(REASON).isNull() & (day < F.lit(as_of_day))
    bought = used & (F.col("_np") > 0)

    def s(value: str | Column, cond: Column = used) -> Column:
        value = F.col(value) if isinstance(value, str) else value
        return F.sum(F.when(cond, value).otherwise(F.lit(0)))

    def in_last(days: int, cond: Column = used) -> Column:
        return cond & (day >= F.lit(as_of_day - days))

    recent, base = cfg.trend_recent_days, cfg.trend_base_days
    in_base = used & (day >= F.lit(as_of_day - recent - base)) & (day < F.lit(as_of_day - recent))
    months_ago = F.least(F.lit(_MONTH_WORDS * 64 - 1), _month_index(F.lit(as_of_day - 1))
                         - _month_index(day))
    aggs = [
        # bookkeeping: rows_in = used + quarantined + after as_of
        F.sum("_n").alias("tx_rows"),
        s("_n", F.col(REASON).isNull() & (day >= F.lit(as_of_day))).alias("tx_after_as_of"),
        *[s("_n", F.col(REASON) == r).alias(f"tx_q_{r}") for r in QUARANTINE_REASONS],
        # overall, lifetime to as_of
        s("_np").alias("tx_count"),
        s("_ap").alias("tx_revenue"),
        F.count(F.when(bought, F.lit(1))).alias("tx_days"),
        F.min(F.when(used, day)).alias("tx_first_day"),
        F.max(F.when(bought, day)).alias("tx_last_day"),
        *[F.bit_or(F.when(bought & (months_ago >= 64 * k) & (months_ago < 64 * (k + 1)),
                          F.call_function("shiftleft", F.lit(1).cast("long"),
                                          (months_ago - 64 * k).cast("int"))))
          .alias(f"_tx_month_bits{k}") for k in range(_MONTH_WORDS)],
        s("_nr").alias("tx_returns"),
        s("_ar").alias("tx_return_amount"),
        s("_nd").alias("tx_discounted"),
        s("_ds").alias("tx_discount_sum"),
        s("_ap", in_last(recent)).alias("tx_revenue_recent"),
        s("_ap", in_base).alias("tx_revenue_base"),
        s("_np", in_last(recent)).alias("tx_count_recent"),
        s("_np", in_base).alias("tx_count_base"),
        # CLV summary (bigseg.features.clv_spark): purchase days are days with a purchase
        # (CDNOW has purchases of amount 0; they are purchase days there too).
        F.min(F.when(bought, day)).alias("tx_first_buy_day"),
        F.min_by("_ap", F.when(bought, day)).alias("tx_first_buy_amount"),
    ]
    for w in cfg.windows_days:
        aggs += [
            s("_np", in_last(w)).alias(f"tx_count_{w}d"),
            s("_ap", in_last(w)).alias(f"tx_revenue_{w}d"),
            F.count(F.when(in_last(w, bought), F.lit(1))).alias(f"tx_days_{w}d"),
        ]
    for _, col in level_columns(levels.channels, "_c_"):
        name = col[len("_c_"):]
        on_channel = used & (F.col(f"{col}_n") > 0)
        aggs += [
            s(f"{col}_n").alias(f"tx_count_ch_{name}"),
            s(f"{col}_a").alias(f"tx_revenue_ch_{name}"),
            F.count(F.when(on_channel, F.lit(1))).alias(f"tx_days_ch_{name}"),
            F.max(F.when(on_channel, day)).alias(f"tx_last_day_ch_{name}"),
        ]
        for w in cfg.windows_days:
            aggs += [
                s(f"{col}_n", in_last(w)).alias(f"tx_count_ch_{name}_{w}d"),
                s(f"{col}_a", in_last(w)).alias(f"tx_revenue_ch_{name}_{w}d"),
            ]
    for _, col in level_columns(levels.categories, "_k_"):
        aggs.append(s(col).alias(f"tx_revenue_cat_{col[len('_k_'):]}"))
    if digest_columns:
        aggs += [F.sum("_hh").alias("tx_hash_hi"), F.sum("_hl").alias("tx_hash_lo")]
    month_bits = [F.coalesce(F.bit_count(F.col(f"_tx_month_bits{k}")), F.lit(0))
                  for k in range(_MONTH_WORDS)]
    return (
        daily.groupBy("customer_id")
        .agg(*aggs)
        .withColumn("tx_months", sum(month_bits[1:], month_bits[0]).cast("int"))
        .drop(*[f"_tx_month_bits{k}" for k in range(_MONTH_WORDS)])
    )


def _month_index(day: Column) -> Column:
    """Months since year 0 of a day number (year * 12 + month)."""
    date = F.date_from_unix_date(day)
    return F.year(date) * 12 + F.month(date)


def _count0(name: str) -> Column:
    """An aggregate count that is 0, not null, for customers absent from the table."""
    return F.coalesce(F.col(name), F.lit(0)).cast("double")


def trend(recent: Column, base: Column, recent_days: int, base_days: int) -> Column:
    """(recent - base rate) / (recent + base rate) in [-1, 1]; 0 when both are 0.

    The base is rescaled to the recent window's length. Bounded, so one big month does
    not dominate distances; 0 for no activity in both periods is a value, not a gap.
    """
    base_rate = base * F.lit(recent_days / base_days)
    return F.coalesce(ratio(recent - base_rate, recent + base_rate), F.lit(0.0))


def transaction_features(as_of_day: int, cfg: FeaturesConfig, levels: ActivityLevels) -> list[FeatureDef]:
    """The behaviour and channel features derived from ``aggregate_transactions``."""
    count, revenue = _count0("tx_count"), _count0("tx_revenue")
    no_purchase = "no_purchase"
    days_since = lambda c: F.lit(as_of_day) - F.col(c)  # noqa: E731 - a one-line helper
    feats = [
        FeatureDef("recency_days", "behaviour", days_since("tx_last_day"), log1p=True,
                   impute="max", indicator=no_purchase,
                   doc="Days from the last purchase day to as_of (1 = the day before)."),
        FeatureDef("frequency", "behaviour", count, log1p=True,
                   doc="Purchase transactions before as_of (returns excluded)."),
        FeatureDef("monetary", "behaviour", revenue, log1p=True,
                   doc="Amount paid on purchases before as_of (returns excluded)."),
        FeatureDef("aov", "behaviour", ratio(revenue, count), log1p=True, impute="median",
                   indicator=no_purchase, doc="Average order value: monetary / frequency."),
        FeatureDef("active_days", "behaviour", _count0("tx_days"), log1p=True,
                   doc="Distinct days with a purchase."),
        FeatureDef("arpu", "behaviour", ratio(revenue, F.col("tx_months")), log1p=True,
                   impute="zero", indicator=no_purchase,
                   doc="Revenue per active month (calendar months with a purchase)."),
        FeatureDef("revenue_trend", "behaviour",
                   trend(_count0("tx_revenue_recent"), _count0("tx_revenue_base"),
                         cfg.trend_recent_days, cfg.trend_base_days),
                   doc=f"Revenue of the last {cfg.trend_recent_days} days against the "
                       f"{cfg.trend_base_days} before, in [-1, 1]."),
        FeatureDef("frequency_trend", "behaviour",
                   trend(_count0("tx_count_recent"), _count0("tx_count_base"),
                         cfg.trend_recent_days, cfg.trend_base_days),
                   doc="As revenue_trend, for the number of purchases."),
        FeatureDef("discount_share", "behaviour", ratio(_count0("tx_discounted"), count),
                   impute="zero", indicator=no_purchase,
                   doc="Share of purchases with a discount (price sensitivity)."),
        FeatureDef("avg_discount", "behaviour", ratio(_count0("tx_discount_sum"), count),
                   impute="zero", indicator=no_purchase,
                   doc="Mean discount (share of list price) over purchases."),
        FeatureDef("return_rate", "behaviour", ratio(_count0("tx_returns"), count),
                   impute="zero", indicator=no_purchase, doc="Returns per purchase."),
        FeatureDef("return_amount_share", "behaviour",
                   ratio(_count0("tx_return_amount"), revenue), impute="zero",
                   indicator=no_purchase, doc="Returned amount / purchased amount."),
    ]
    for w in cfg.windows_days:
        feats += [
            FeatureDef(f"frequency_{w}d", "behaviour", _count0(f"tx_count_{w}d"), log1p=True,
                       doc=f"Purchases in the {w} days before as_of."),
            FeatureDef(f"monetary_{w}d", "behaviour", _count0(f"tx_revenue_{w}d"), log1p=True,
                       doc=f"Amount paid in the {w} days before as_of."),
            FeatureDef(f"active_days_{w}d", "behaviour", _count0(f"tx_days_{w}d"), log1p=True,
                       doc=f"Days with a purchase in the {w} days before as_of."),
        ]
    category_cols = [c[len("_k_"):] for _, c in level_columns(levels.categories, "_k_")]
    top_revenue = sum((_count0(f"tx_revenue_cat_{c}") for c in category_cols), F.lit(0.0))
    for level, c in zip(levels.categories, category_cols, strict=True):
        feats.append(FeatureDef(f"category_share_{c}", "behaviour",
                                ratio(_count0(f"tx_revenue_cat_{c}"), revenue), impute="zero",
                                indicator=no_purchase,
                                doc=f"Share of revenue in category {level!r}."))
    if category_cols:
        feats.append(FeatureDef("category_share_other", "behaviour",
                                ratio(revenue - top_revenue, revenue), impute="zero",
                                indicator=no_purchase,
                                doc="Share of revenue outside the top categories."))
    used_channels = []
    for level, col in level_columns(levels.channels, "_c_"):
        c = col[len("_c_"):]
        ch_count, ch_revenue = _count0(f"tx_count_ch_{c}"), _count0(f"tx_revenue_ch_{c}")
        used_channels.append(F.when(ch_count > 0, 1).otherwise(0))
        none_here = f"no_purchase_{c}"
        feats += [
            FeatureDef(f"channel_share_{c}", "channel", ratio(ch_revenue, revenue),
                       impute="zero", indicator=no_purchase,
                       doc=f"Share of revenue on channel {level!r} (channel mix)."),
            FeatureDef(f"recency_days_{c}", "channel", days_since(f"tx_last_day_ch_{c}"),
                       log1p=True, impute="max", indicator=none_here,
                       doc=f"Days since the last purchase on {level!r}."),
            FeatureDef(f"frequency_{c}", "channel", ch_count, log1p=True,
                       doc=f"Purchases on {level!r}."),
            FeatureDef(f"monetary_{c}", "channel", ch_revenue, log1p=True,
                       doc=f"Amount paid on {level!r}."),
            FeatureDef(f"aov_{c}", "channel", ratio(ch_revenue, ch_count), log1p=True,
                       impute="median", indicator=none_here,
                       doc=f"Average order value on {level!r}."),
            FeatureDef(f"active_days_{c}", "channel", _count0(f"tx_days_ch_{c}"), log1p=True,
                       doc=f"Days with a purchase on {level!r}."),
        ]
        for w in cfg.windows_days:
            feats += [
                FeatureDef(f"frequency_{c}_{w}d", "channel", _count0(f"tx_count_ch_{c}_{w}d"),
                           log1p=True, doc=f"Purchases on {level!r} in the last {w} days."),
                FeatureDef(f"monetary_{c}_{w}d", "channel", _count0(f"tx_revenue_ch_{c}_{w}d"),
                           log1p=True, doc=f"Amount paid on {level!r} in the last {w} days."),
            ]
    if used_channels:
        feats.append(FeatureDef("n_sales_channels", "channel",
                                sum(used_channels, F.lit(0)).cast("double"),
                                doc="Number of sales channels with a purchase (omnichannel)."))
    return feats


# ---- events ----------------------------------------------------------------------------------


def aggregate_events(
    attached: DataFrame,
    as_of_day: int,
    cfg: FeaturesConfig,
    levels: ActivityLevels,
    digest_columns: Sequence[str] | None = None,
) -> DataFrame:
    """Per-customer event aggregates (``ev_*``) in one ``groupBy`` (and the null group)."""
    day = day_of(F.col("ts"))
    used = F.col(REASON).isNull() & (day < F.lit(as_of_day))
    etype, channel = F.col("event_type"), F.col("channel")
    is_call = etype.isin(list(cfg.call_event_types)) | channel.isin(list(cfg.call_channels))

    def n(cond: Column) -> Column:
        return F.count(F.when(cond, F.lit(1)))

    def in_last(w: int, cond: Column) -> Column:
        return cond & (day >= F.lit(as_of_day - w))

    aggs = [
        F.count(F.lit(1)).alias("ev_rows"),
        n(F.col(REASON).isNull() & (day >= F.lit(as_of_day))).alias("ev_after_as_of"),
        *[n(F.col(REASON) == r).alias(f"ev_q_{r}") for r in QUARANTINE_REASONS],
        n(used).alias("ev_count"),
        F.min(F.when(used, day)).alias("ev_first_day"),
        F.max(F.when(used, day)).alias("ev_last_day"),
        n(used & is_call).alias("ev_calls"),
        n(used & (etype == cfg.email_send_event)).alias("ev_email_sent"),
        n(used & (etype == cfg.email_open_event)).alias("ev_email_opened"),
        n(used & (etype == cfg.email_click_event)).alias("ev_email_clicked"),
    ]
    for w in cfg.windows_days:
        aggs += [n(in_last(w, used)).alias(f"ev_count_{w}d"),
                 n(in_last(w, used & is_call)).alias(f"ev_calls_{w}d")]
    for level, col in level_columns(levels.event_types, "ev_type_"):
        aggs.append(n(used & (etype == level)).alias(col))
        aggs += [n(in_last(w, used & (etype == level))).alias(f"{col}_{w}d")
                 for w in cfg.windows_days]
    for level, col in level_columns(levels.event_channels, "ev_ch_"):
        aggs.append(n(used & (channel == level)).alias(col))
    if digest_columns:
        hi, lo = row_hash_parts(digest_columns)
        aggs += [F.sum(hi).alias("ev_hash_hi"), F.sum(lo).alias("ev_hash_lo")]
    return attached.groupBy("customer_id").agg(*aggs)


def email_rate_features(cfg: FeaturesConfig, levels: ActivityLevels) -> list[FeatureDef]:
    """Email open and click rates, per email sent when the data has send events.

    With sends among the fitted event types (``cfg.email_send_event`` in
    ``levels.event_types``, so the choice is recorded with the levels): opens / sends and
    clicks / sends, missing (imputed 0, flagged ``no_email_sent``) for a customer never
    sent an email. Without sends no open rate can be formed: clicks / opens
    (click-to-open rate), flagged ``no_email_open``.
    """
    opened, clicked = _count0("ev_email_opened"), _count0("ev_email_clicked")
    if cfg.email_send_event in levels.event_types:
        sent = _count0("ev_email_sent")
        return [
            FeatureDef("email_open_rate", "engagement", ratio(opened, sent), impute="zero",
                       indicator="no_email_sent", doc="Emails opened per email sent."),
            FeatureDef("email_click_rate", "engagement", ratio(clicked, sent), impute="zero",
                       indicator="no_email_sent", doc="Email clicks per email sent."),
        ]
    return [FeatureDef("email_click_rate", "engagement", ratio(clicked, opened), impute="zero",
                       indicator="no_email_open",
                       doc="Email clicks per email opened (click-to-open rate; no send events).")]


def event_features(as_of_day: int, cfg: FeaturesConfig, levels: ActivityLevels) -> list[FeatureDef]:
    """The engagement features derived from ``aggregate_events``."""
    total = _count0("ev_count")
    feats = [
        FeatureDef("events", "engagement", total, log1p=True, doc="Events before as_of."),
        FeatureDef("event_recency_days", "engagement", F.lit(as_of_day) - F.col("ev_last_day"),
                   log1p=True, impute="max", indicator="no_events",
                   doc="Days since the last event."),
        FeatureDef("call_contacts", "engagement", _count0("ev_calls"), log1p=True,
                   doc="Call-centre contacts (call events or events on a call channel)."),
        *email_rate_features(cfg, levels),
    ]
    for w in cfg.windows_days:
        feats += [
            FeatureDef(f"events_{w}d", "engagement", _count0(f"ev_count_{w}d"), log1p=True,
                       doc=f"Events in the last {w} days."),
            FeatureDef(f"call_contacts_{w}d", "engagement", _count0(f"ev_calls_{w}d"),
                       log1p=True, doc=f"Call-centre contacts in the last {w} days."),
        ]
    for level, col in level_columns(levels.event_types, "ev_type_"):
        name = col[len("ev_type_"):]
        feats.append(FeatureDef(f"event_{name}", "engagement", _count0(col), log1p=True,
                                doc=f"{level!r} events before as_of."))
        feats += [FeatureDef(f"event_{name}_{w}d", "engagement", _count0(f"{col}_{w}d"),
                             log1p=True, doc=f"{level!r} events in the last {w} days.")
                  for w in cfg.windows_days]
    for level, col in level_columns(levels.event_channels, "ev_ch_"):
        feats.append(FeatureDef(f"event_share_{col[len('ev_ch_'):]}", "engagement",
                                ratio(_count0(col), total), impute="zero", indicator="no_events",
                                doc=f"Share of events on channel {level!r}."))
    return feats
