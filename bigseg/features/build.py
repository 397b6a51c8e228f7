"""``build_features``: the one call a task or job makes to turn input tables into features.

Plan of one build (fit mode; ``metadata=`` skips every fit step and reuses its values):

1. levels (sales channels, top categories, event types, one-hot values): from the config,
   else one light aggregation per table over the rows before as_of;
2. identity resolution and one aggregation per activity table (transactions: per
   customer-day then per customer, over a single shuffle; events: per customer), full
   outer joined with the customers' profile columns; the raw (nullable) features are
   computed from it and cached with the row-accounting columns, and a small aggregation
   over the cache gives ``rows_in = rows_used + rows_quarantined + rows_after_as_of``,
   the input digests and the one-row-per-customer check;
3. impute values and RFM cut points (one pass over the cache), the CLV fit (driver, on
   grouped tuples), then the named columns (imputed, with indicators);
4. scaler statistics (one pass), group weights, optional PCA -> the ``features`` column.

Every pass after step 2 reads the cached table (one row per customer), so each activity
table is scanned once for the features (plus once for level discovery when the levels
are neither configured nor given by the metadata).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from bigseg.config import FeaturesConfig
from bigseg.features import clv_spark, identity, profile, transform, value
from bigseg.features.behaviour import (
    QUARANTINE_REASONS,
    ActivityLevels,
    aggregate_events,
    aggregate_transactions,
    discover_event_levels,
    discover_transaction_levels,
    event_features,
    row_hash_parts,
    transaction_features,
)
from bigseg.features.spec import GROUPS, FeatureDef
from bigseg.features.transform import FeatureMetadata

log = logging.getLogger(__name__)

TABLES = ("customers", "identities", "transactions", "events")
ACTIVITY = ("transactions", "events")
NULL_CUSTOMER_ID = "null_customer_id"
# Row-accounting and digest columns of the aggregates (see _account).
_ACCOUNTING = re.compile(r"(tx|ev)_(rows|after_as_of|q_\w+|hash_hi|hash_lo)|pr_(row|hash_hi|hash_lo)")
EXTRA_COLUMNS = ("rfm_cell",)
_EPOCH = date(1970, 1, 1)


@dataclass
class FeatureSet:
    """The result of one build.

    ``df``: customer_id, the named feature columns (imputed, untransformed, indicators
    included), ``rfm_cell`` when transactions were given, and ``features``
    (array<float>, transformed, in ``metadata.vector_names`` order or PCA components).
    ``quarantine``: per table, the rows that could not be used (lazy DataFrames in the
    quarantine layout of bigseg.io). ``counts``: per table, rows_in, rows_used,
    rows_quarantined, rows_after_as_of and quarantined rows by reason.
    """

    df: DataFrame
    metadata: FeatureMetadata
    quarantine: dict[str, DataFrame]
    counts: dict[str, dict[str, Any]]
    # Seconds per build step (levels, aggregate, ... named, scaler_fit): the Spark jobs
    # that ran inside build_features. Writing ``df`` runs the rest.
    timings: dict[str, float] = field(default_factory=dict)
    _cached: list[DataFrame] = field(default_factory=list, repr=False)

    def unpersist(self) -> None:
        """Release the cached per-customer table ``df`` is computed from."""
        for df in self._cached:
            df.unpersist()
        self._cached.clear()


# ---- configuration -----------------------------------------------------------------------------


def check_config(cfg: FeaturesConfig) -> None:
    """Validate the feature config once; each message names the value and the rule."""
    windows = list(cfg.windows_days)
    rules = [
        (len(windows) > 0, f"windows_days={windows} should not be empty"),
        (all(w >= 1 for w in windows), f"windows_days={windows} should all be >= 1"),
        (len(set(windows)) == len(windows), f"windows_days={windows} should be distinct"),
        (cfg.trend_recent_days >= 1, f"trend_recent_days={cfg.trend_recent_days} should be >= 1"),
        (cfg.trend_base_days >= 1, f"trend_base_days={cfg.trend_base_days} should be >= 1"),
        (cfg.top_categories >= 0, f"top_categories={cfg.top_categories} should be >= 0"),
        (cfg.max_levels >= 1, f"max_levels={cfg.max_levels} should be >= 1"),
        (cfg.rfm_bins >= 2, f"rfm_bins={cfg.rfm_bins} should be >= 2"),
        (cfg.quantile_accuracy >= 1, f"quantile_accuracy={cfg.quantile_accuracy} should be >= 1"),
        (cfg.clv_horizon_days >= 1, f"clv_horizon_days={cfg.clv_horizon_days} should be >= 1"),
        (cfg.clv_step_days >= 1, f"clv_step_days={cfg.clv_step_days} should be >= 1"),
        (cfg.clv_time_step_days >= 1,
         f"clv_time_step_days={cfg.clv_time_step_days} should be >= 1"),
        (cfg.clv_discount_rate >= 0, f"clv_discount_rate={cfg.clv_discount_rate} should be >= 0"),
        (0 < cfg.clv_spend_precision < 1,
         f"clv_spend_precision={cfg.clv_spend_precision} should be within (0, 1)"),
        (cfg.scaler in transform.SCALERS,
         f"scaler={cfg.scaler!r} should be one of {transform.SCALERS}"),
        (set(cfg.groups) <= set(GROUPS), f"groups={list(cfg.groups)} should be within {GROUPS}"),
        (len(cfg.groups) > 0, f"groups={list(cfg.groups)} should not be empty"),
        (set(cfg.group_weights) <= set(GROUPS),
         f"group_weights keys {sorted(cfg.group_weights)} should be within {GROUPS}"),
        (all(w >= 0 for w in cfg.group_weights.values()),
         f"group_weights={dict(cfg.group_weights)} should all be >= 0"),
        (cfg.pca_components is None or cfg.pca_components >= 1,
         f"pca_components={cfg.pca_components} should be >= 1 or null"),
        (list(cfg.age_bands) == sorted(set(cfg.age_bands)),
         f"age_bands={list(cfg.age_bands)} should be strictly increasing"),
    ]
    for ok, message in rules:
        if not ok:
            raise ValueError(message)
    resolve_as_of(cfg.as_of)


def resolve_as_of(value: str | date | datetime | None) -> date:
    """The snapshot date: a date, an ISO date string, or None for today (UTC).

    Times of day are refused rather than silently truncated: features are daily.
    """
    if value is None:
        today = datetime.now(timezone.utc).date()
        log.info("as_of not set: using today, %s (UTC)", today)
        return today
    if isinstance(value, datetime):
        raise TypeError(f"as_of={value!r} should be a date (YYYY-MM-DD), not a datetime")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"as_of={value!r} should be an ISO date, YYYY-MM-DD")
    return date.fromisoformat(value)


def _config_dict(cfg: FeaturesConfig, as_of: date) -> dict[str, Any]:
    data = asdict(cfg)
    data["as_of"] = as_of.isoformat()
    return data


# ---- the build ---------------------------------------------------------------------------------


def build_features(
    spark: SparkSession,
    tables: Mapping[str, DataFrame],
    cfg: FeaturesConfig,
    *,
    as_of: str | date | None = None,
    metadata: FeatureMetadata | None = None,
) -> FeatureSet:
    """Build one feature row per customer from the contract tables, as of a date.

    ``tables``: any of customers, identities, transactions, events (other keys are
    ignored); identities is required with transactions or events. ``as_of`` overrides
    ``cfg.as_of``. With ``metadata`` (from an earlier build), nothing is fitted: its
    levels, cut points, CLV parameters, impute values, scaler, weights and PCA apply as
    they are, and its feature config replaces ``cfg`` (only the date may change).
    """
    del spark  # the tables carry their session; kept in the signature for jobs and tasks
    if metadata is not None:
        # The fitted definition wins (windows, levels, ...); only the snapshot date moves.
        cfg = FeaturesConfig(**{**metadata.config, "as_of": cfg.as_of})
    check_config(cfg)
    day = resolve_as_of(as_of if as_of is not None else cfg.as_of)
    as_of_day = (day - _EPOCH).days
    present = {name: tables[name] for name in TABLES if tables.get(name) is not None}
    ignored = sorted(set(tables) - set(TABLES))
    if ignored:
        log.debug("build_features ignores tables %s", ignored)
    _check_tables(present, metadata)

    clock = _Clock()
    levels = _levels(present, as_of_day, cfg, metadata)
    clock.lap("levels")
    activity = ActivityLevels(
        channels=tuple(levels["channels"]), categories=tuple(levels["categories"]),
        event_types=tuple(levels["event_types"]), event_channels=tuple(levels["event_channels"]),
    )

    # ---- step 2: one aggregation per table, joined and cached
    parts: list[DataFrame] = []
    quarantine: dict[str, DataFrame] = {}
    if any(t in present for t in ACTIVITY):
        resolved = identity.resolve(present["identities"])
    for name, aggregate in (("transactions", aggregate_transactions),
                            ("events", aggregate_events)):
        if name in present:
            attached = identity.attach(present[name], resolved, name)
            quarantine[name] = identity.quarantine(attached, name)
            digest = list(present[name].columns) if cfg.digest_inputs else None
            parts.append(aggregate(attached, as_of_day, cfg, activity, digest))
    if "customers" in present:
        customers = present["customers"]
        quarantine["customers"] = customers.where(F.col("customer_id").isNull()).select(
            F.lit("customers").alias("table"), F.lit(NULL_CUSTOMER_ID).alias("reason"),
            F.array(F.lit(NULL_CUSTOMER_ID)).alias("reasons"),
            F.to_json(F.struct(*customers.columns)).alias("row"),
        )
        extra = [F.lit(1).alias("pr_row")]
        if cfg.digest_inputs:
            hi, lo = row_hash_parts(customers.columns)
            extra += [hi.alias("pr_hash_hi"), lo.alias("pr_hash_lo")]
        parts.append(profile.profile_columns(customers, day, cfg, extra))
    joined = reduce(lambda a, b: a.join(b, "customer_id", "full_outer"), parts)

    # ---- step 3: raw features (nullable), cached with the row-accounting columns.
    # Only this one table is cached: every later pass (fits, the output) reads it, so the
    # input tables are scanned once; caching the raw features rather than the aggregates
    # keeps the cache to about one double per feature per customer.
    defs_a = _first_stage_defs(present, as_of_day, cfg, activity, levels)
    extra_raw: list[Column] = []
    has_tx = "transactions" in present
    if has_tx and cfg.clv:
        extra_raw = clv_spark.summary_columns(as_of_day)
    accounting = [c for c in joined.columns if _ACCOUNTING.fullmatch(c)]
    base = joined.select(
        "customer_id", *accounting, *[d.expr.alias(d.name) for d in defs_a], *extra_raw
    ).persist(StorageLevel.MEMORY_AND_DISK)
    cached = [base]
    counts, inputs = _account(base, present, cfg)
    clock.lap("aggregate")
    raw = base.where(F.col("customer_id").isNotNull()).drop(*accounting)
    # Fit mode: impute statistics of the raw features and RFM cut points in one pass.
    impute: dict[str, float] = {}
    rfm_cuts: dict[str, list[float]] = {}
    if metadata is None:
        has_purchase = F.col("frequency") > 0
        aggs = transform.imputation_aggs(defs_a, cfg.quantile_accuracy)
        if has_tx:
            aggs += value.cut_point_aggs(has_purchase, cfg.rfm_bins, cfg.quantile_accuracy)
        row = raw.agg(*aggs).first().asDict()
        clock.lap("impute_rfm_fit")
        impute = transform.impute_values(defs_a, row)
        if has_tx:
            rfm_cuts = value.cut_points(row, cfg.rfm_bins)
    elif has_tx:
        rfm_cuts = metadata.rfm_cuts

    defs_b: list[FeatureDef] = []
    clv_model: clv_spark.CLVModel | None = None
    if has_tx:
        defs_b += value.rfm_features(rfm_cuts, F.col("frequency") > 0)
        if metadata is None:
            clv_model = clv_spark.try_fit(raw, cfg) if cfg.clv else None
            clock.lap("clv_fit")
        elif metadata.clv:
            clv_model = clv_spark.CLVModel.from_dict(metadata.clv)
        if clv_model is not None:
            raw = raw.withColumn("_clv", clv_spark.score_column(clv_model, cfg))
            defs_b += _clv_defs(clv_model.spend_model)
    raw = raw.select("*", *[d.expr.alias(d.name) for d in defs_b])
    defs = defs_a + defs_b

    if metadata is None:
        # Second-stage features are non-null by construction (scores) or zero-imputed.
        impute.update(transform.impute_values(defs_b, {}))
        entries = transform.feature_entries(defs, impute, cfg.groups)
    else:
        entries = [dict(e) for e in metadata.features]
        impute = {e["name"]: e["impute"]["value"] for e in entries
                  if e["impute"]["value"] is not None}
        expected = [e["name"] for e in transform.feature_entries(defs, impute, cfg.groups)]
        if expected != [e["name"] for e in entries]:
            raise ValueError(
                "these tables give other feature columns than the metadata was fitted with: "
                f"missing {sorted(set(e['name'] for e in entries) - set(expected))}, "
                f"new {sorted(set(expected) - set(e['name'] for e in entries))}"
            )
    extras = []
    if has_tx:
        extras.append(value.rfm_cell(F.col("r_score"), F.col("f_score"), F.col("m_score"))
                      .alias("rfm_cell"))
    named = raw.select("customer_id", *transform.named_columns(defs, impute), *extras)

    # ---- step 4: scaling, weights, vector, PCA
    n_customers: int | None = None
    if metadata is None:
        n_customers = transform.fit_scaler(
            named, entries, cfg.scaler, cfg.log1p, cfg.quantile_accuracy)
        clock.lap("scaler_fit")
        transform.set_weights(entries, cfg.group_weights, cfg.balance_groups)
    with_vector = named.withColumn(transform.VECTOR, transform.vector_column(entries, cfg.log1p))
    pca = metadata.pca if metadata is not None else None
    if metadata is None and cfg.pca_components is not None:
        pca = transform.fit_pca(with_vector, cfg.pca_components)
        clock.lap("pca_fit")
    if pca is not None:
        with_vector = with_vector.withColumn(transform.VECTOR, transform.pca_column(pca))

    meta = FeatureMetadata(
        as_of=day.isoformat(),
        config=_config_dict(cfg, day),
        levels=levels,
        features=entries,
        rfm_cuts=rfm_cuts,
        clv=clv_model.to_dict() if clv_model is not None else None,
        pca=pca,
        inputs=inputs,
        quarantine=counts,
    )
    log.info("features as of %s: %s customers, %d named columns, vector of %d", day,
             n_customers if n_customers is not None else "(not counted when applying)",
             len(entries), len(meta.vector_names) if pca is None else pca["k"])
    log.info("feature build timings (s): %s", clock.laps)
    return FeatureSet(with_vector, meta, quarantine, counts, clock.laps, cached)


def _check_tables(present: dict[str, DataFrame], metadata: FeatureMetadata | None) -> None:
    if not any(t in present for t in ("customers", *ACTIVITY)):
        raise ValueError(
            f"build_features needs at least one of customers, transactions, events; got "
            f"{sorted(present)}"
        )
    if any(t in present for t in ACTIVITY) and "identities" not in present:
        raise ValueError(
            "transactions and events are keyed by (channel, channel_id): build_features "
            "needs the identities table to resolve them to customer_id"
        )
    if metadata is not None:
        fitted = set(metadata.levels.get("tables", []))
        given = {t for t in present if t != "identities"}
        if fitted != given:
            raise ValueError(
                f"the metadata was fitted on tables {sorted(fitted)} but these are "
                f"{sorted(given)}; pass the same tables (empty ones are fine)"
            )


def _levels(present: dict[str, DataFrame], as_of_day: int, cfg: FeaturesConfig,
            metadata: FeatureMetadata | None) -> dict[str, Any]:
    """Levels from the metadata, else from the config, else discovered from the data."""
    if metadata is not None:
        return metadata.levels
    levels: dict[str, Any] = {
        "tables": sorted(t for t in present if t != "identities"),
        "channels": [], "categories": [], "event_types": [], "event_channels": [],
        "profile": {}, "surveys": [],
    }
    if "transactions" in present:
        levels["channels"], levels["categories"] = discover_transaction_levels(
            present["transactions"], as_of_day, cfg)
    if "events" in present:
        levels["event_types"], levels["event_channels"] = discover_event_levels(
            present["events"], as_of_day, cfg)
    if "customers" in present:
        levels["profile"] = profile.discover_levels(present["customers"], cfg)
        levels["surveys"] = profile.survey_columns(present["customers"])
    return levels


def _first_stage_defs(present, as_of_day: int, cfg: FeaturesConfig, activity: ActivityLevels,
                      levels: dict[str, Any]) -> list[FeatureDef]:
    defs: list[FeatureDef] = []
    starts = []
    if "transactions" in present:
        defs += transaction_features(as_of_day, cfg, activity)
        starts.append(F.col("tx_first_day"))
    if "events" in present:
        defs += event_features(as_of_day, cfg, activity)
        starts.append(F.col("ev_first_day"))
    if "customers" in present:
        signup = F.col("pr_signup_day")
        starts.append(F.when(signup < F.lit(as_of_day), signup))
    first_seen = F.least(*starts) if len(starts) > 1 else starts[0]
    defs.append(FeatureDef(
        "tenure_days", "behaviour", (F.lit(as_of_day) - first_seen).cast("double"), log1p=True,
        impute="zero", indicator="no_history",
        doc="Days from the first sign-up, purchase or event to as_of.",
    ))
    if "customers" in present:
        defs += profile.profile_features(cfg, levels["profile"], levels["surveys"])
    return defs


def _clv_defs(spend_model: str) -> list[FeatureDef]:
    clv = F.col("_clv")
    defs = [
        FeatureDef("clv_p_alive", "value", clv["p_alive"], impute="zero",
                   indicator="no_purchase", doc="BG/NBD probability the customer is active."),
        FeatureDef("clv_expected_purchases", "value", clv["expected_purchases"], log1p=True,
                   impute="zero", indicator="no_purchase",
                   doc="Expected purchase days over the CLV horizon (BG/NBD)."),
    ]
    spend = {"gamma_gamma": "Gamma-Gamma",
             "customer_mean_spend": "the customer's mean repeat spend (degenerate Gamma-Gamma)"}
    if spend_model in spend:
        defs.append(FeatureDef(
            "clv_value", "value", clv["value"], log1p=True, impute="zero",
            indicator="no_purchase",
            doc=f"Predicted (discounted) value over the horizon: BG/NBD x {spend[spend_model]}."))
    return defs


class _Clock:
    """Wall-clock seconds per build step."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self._last, 3)
        self._last = now


def _hex(hi: int | None, lo: int | None) -> str:
    return f"{int(hi or 0):x}-{int(lo or 0):x}"


def _digest(df: DataFrame) -> dict[str, Any]:
    """Row count and order-independent xxhash64 digest of a (small) table."""
    hi, lo = row_hash_parts(df.columns)
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(hi).alias("hi"), F.sum(lo).alias("lo")).first()
    return {"rows": int(row["n"]), "xxhash64_sum": _hex(row["hi"], row["lo"]),
            "columns": list(df.columns)}


def _account(joined: DataFrame, present: dict[str, DataFrame], cfg: FeaturesConfig):
    """Row accounting and digests from the cached table; one row per customer enforced.

    ``joined`` holds one row per customer plus the rows of unattributable activity
    (null customer_id), with the accounting columns of the aggregates.
    """
    cid = F.col("customer_id")
    aggs = [F.count(cid).alias("ids"), F.countDistinct(cid).alias("distinct_ids")]
    prefixes = {"transactions": "tx", "events": "ev"}
    for table, p in prefixes.items():
        if table in present:
            aggs += [F.sum(f"{p}_rows").alias(f"{p}_rows"),
                     F.sum(f"{p}_after_as_of").alias(f"{p}_after_as_of")]
            aggs += [F.sum(f"{p}_q_{r}").alias(f"{p}_q_{r}") for r in QUARANTINE_REASONS]
            if cfg.digest_inputs:
                aggs += [F.sum(f"{p}_hash_hi").alias(f"{p}_hh"),
                         F.sum(f"{p}_hash_lo").alias(f"{p}_hl")]
    if "customers" in present:
        aggs += [F.sum("pr_row").alias("pr_rows"),
                 F.count(F.when(cid.isNull() & (F.col("pr_row") == 1), 1)).alias("pr_null")]
        if cfg.digest_inputs:
            aggs += [F.sum("pr_hash_hi").alias("pr_hh"), F.sum("pr_hash_lo").alias("pr_hl")]
    row = joined.agg(*aggs).first().asDict()
    if row["ids"] != row["distinct_ids"]:
        dup = (joined.where(cid.isNotNull()).groupBy(cid).count()
               .where(F.col("count") > 1).first())
        raise ValueError(
            f"customers: customer_id {dup['customer_id']!r} appears {dup['count']} times; "
            f"the customers table must have one row per customer_id (validate it with "
            f"bigseg.io.validation first)"
        )
    counts: dict[str, dict[str, Any]] = {}
    inputs: dict[str, Any] = {}
    for table, p in prefixes.items():
        if table not in present:
            continue
        by_reason = {r: int(row[f"{p}_q_{r}"] or 0) for r in QUARANTINE_REASONS}
        by_reason = {r: n for r, n in by_reason.items() if n}
        rows_in = int(row[f"{p}_rows"] or 0)
        after = int(row[f"{p}_after_as_of"] or 0)
        quarantined = sum(by_reason.values())
        counts[table] = {"rows_in": rows_in, "rows_used": rows_in - quarantined - after,
                         "rows_quarantined": quarantined, "rows_after_as_of": after,
                         "by_reason": by_reason}
        if cfg.digest_inputs:
            inputs[table] = {"rows": rows_in, "xxhash64_sum": _hex(row[f"{p}_hh"], row[f"{p}_hl"]),
                             "columns": list(present[table].columns)}
    if "customers" in present:
        rows_in, null_ids = int(row["pr_rows"] or 0), int(row["pr_null"])
        counts["customers"] = {"rows_in": rows_in, "rows_used": rows_in - null_ids,
                               "rows_quarantined": null_ids, "rows_after_as_of": 0,
                               "by_reason": {NULL_CUSTOMER_ID: null_ids} if null_ids else {}}
    if cfg.digest_inputs and "customers" in present:
        inputs["customers"] = {"rows": int(row["pr_rows"] or 0),
                               "xxhash64_sum": _hex(row["pr_hh"], row["pr_hl"]),
                               "columns": list(present["customers"].columns)}
    if cfg.digest_inputs and "identities" in present:
        inputs["identities"] = _digest(present["identities"])
    for table, c in counts.items():
        if c["rows_quarantined"]:
            log.warning("%s: %d of %d rows quarantined (%s)", table, c["rows_quarantined"],
                        c["rows_in"], c["by_reason"])
    return counts, inputs
