"""The synthetic generator: deterministic, partition-independent, dirty on demand, with
planted segments a plain k-means recovers, planted drift and email sends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import reduce

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from bigseg.config import PlantedMigrationConfig, SourceConfig, SyntheticConfig, compose
from bigseg.data import dirty
from bigseg.data.load import load_sources
from bigseg.data.segments import EVENT_TYPES, SEGMENTS, ZERO_UPLIFT
from bigseg.data.synthetic import OUTPUT_TABLES, check_config, generate
from bigseg.io.contracts import CONTRACTS

_CACHE: dict = {}


def _default_load(spark):
    """load_sources at the default settings, only fewer customers (shared by tests)."""
    if "default" not in _CACHE:
        cfg = compose("pipeline", ["source.synthetic.n_customers=1000"]).source
        _CACHE["default"] = (cfg, load_sources(spark, cfg, persist=True))
    return _CACHE["default"]


def _rows(tables: dict) -> list[tuple[str, str]]:
    """Every row of every table as (table, JSON), sorted; one Spark job for all tables."""
    frames = [
        df.select(F.lit(name).alias("table"), F.to_json(F.struct(*df.columns)).alias("row"))
        for name, df in tables.items()
    ]
    union = reduce(lambda a, b: a.unionByName(b), frames)
    # JSON writes NaN as "NaN", so equal tables give equal strings.
    return sorted((r.table, r.row) for r in union.collect())


def test_same_seed_same_tables_whatever_the_partitions(spark):
    cfg = SyntheticConfig(
        n_customers=120, seed=11, dirty_share=0.05, n_campaigns=1,
        migrations=[PlantedMigrationConfig("price_seeker", "omnichannel", 0.5)],
    )
    one = generate(spark, replace(cfg, partitions=1))
    three = generate(spark, replace(cfg, partitions=3))
    assert set(one) == set(OUTPUT_TABLES)
    assert three["ground_truth"].rdd.getNumPartitions() == 3
    rows = _rows(one)
    assert {t for t, _ in rows} == set(OUTPUT_TABLES)
    assert rows == _rows(three)
    other_seed = generate(spark, replace(cfg, seed=12, partitions=1))
    assert _rows({"customers": other_seed["customers"]}) != [r for r in rows if r[0] == "customers"]


def test_tables_follow_the_contract_and_are_consistent(spark):
    n = 150
    cfg = SourceConfig(synthetic=SyntheticConfig(n_customers=n, dirty_share=0.0, seed=3))
    loaded = load_sources(spark, cfg)
    for name, contract in CONTRACTS.items():
        assert loaded.tables[name].schema.simpleString() == contract.schema.simpleString(), name
    # Clean data: every reference resolves, every rule holds.
    assert all(r.rows_quarantined == 0 for r in loaded.report.tables.values()), (
        loaded.report.summary()
    )
    counts = {n: r.rows_in for n, r in loaded.report.tables.items()}
    assert counts["customers"] == n
    assert counts["transactions"] > 10 * counts["customers"]
    assert counts["events"] > counts["transactions"]
    assert counts["campaign_outcomes"] == 2 * n
    channels = {
        r.channel for r in loaded.tables["identities"].select("channel").distinct().collect()
    }
    assert channels == {"store", "web", "app", "call_centre", "email"}
    per_customer = loaded.tables["identities"].groupBy("customer_id").count()
    sizes = {r["count"] for r in per_customer.collect()}
    assert min(sizes) == 3 and max(sizes) == 5  # single-channel and omnichannel customers
    surveyed = loaded.tables["customers"].filter(F.col("survey_brand_loyalty").isNotNull()).count()
    assert 0.15 * n < surveyed < 0.45 * n


def test_every_dirty_kind_lands_in_quarantine_under_its_reason(spark):
    cfg = SourceConfig(synthetic=SyntheticConfig(n_customers=400, dirty_share=0.2, seed=5))
    loaded = load_sources(spark, cfg, check_threshold=False)
    for name, report in loaded.report.tables.items():
        assert report.rows_in == report.rows_used + report.rows_quarantined
        missing = set(dirty.kinds(name)) - set(report.by_reason)
        assert not missing, (name, report.by_reason)
    quarantine = loaded.quarantine["transactions"].groupBy("reason").count().collect()
    assert {r.reason: r["count"] for r in quarantine} == loaded.report.tables[
        "transactions"
    ].by_reason


def test_planted_segments_are_recovered_by_kmeans(spark):
    cfg, loaded = _default_load(spark)
    ids = loaded.tables["identities"]
    end = F.lit(cfg.synthetic.end).cast("timestamp")
    days = F.lit(86_400.0)
    tx = (
        loaded.tables["transactions"]
        .join(ids, ["channel", "channel_id"])
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("n_tx"),
            F.avg(F.abs("amount")).alias("amount"),
            F.avg((F.col("discount") > 0).cast("double")).alias("discount_share"),
            F.countDistinct("channel").alias("channels"),
            ((F.unix_timestamp(end) - F.unix_timestamp(F.max("ts"))) / days).alias("recency"),
            ((F.unix_timestamp(end) - F.unix_timestamp(F.min("ts"))) / days).alias("tenure"),
        )
    )
    ev = (
        # The customer's own events: the retailer's email sends say little about them.
        loaded.tables["events"]
        .where(F.col("event_type") != "email_send")
        .join(ids, ["channel", "channel_id"])
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("n_ev"),
            F.avg(F.col("event_type").startswith("email").cast("double")).alias("email_share"),
        )
    )
    truth = loaded.extras["ground_truth"]
    data = tx.join(ev, "customer_id", "left").join(truth, "customer_id").fillna(0).toPandas()
    assert len(data) > 0.95 * cfg.synthetic.n_customers  # a few dirty customers are quarantined
    X = np.column_stack(
        [
            np.log1p(data.n_tx),
            np.log1p(data.amount),
            data.discount_share,
            data.channels,
            data.recency,
            data.tenure,
            np.log1p(data.n_ev),
            data.email_share,
        ]
    )
    labels = KMeans(n_clusters=cfg.synthetic.n_segments, n_init=10, random_state=0).fit_predict(
        StandardScaler().fit_transform(X)
    )
    ari = adjusted_rand_score(data.segment_id, labels)
    assert ari >= 0.8, ari


def test_planted_treatment_effects_show_in_campaign_outcomes(spark):
    _, loaded = _default_load(spark)
    truth = loaded.extras["ground_truth"]
    effects = {
        (r.segment, r.campaign_id): r.uplift for r in loaded.extras["planted_effects"].collect()
    }
    assert len(effects) == 6 * 2
    rates = (
        loaded.tables["campaign_outcomes"]
        .join(truth, "customer_id")
        .groupBy("segment", "campaign_id", "treated")
        .agg(F.avg(F.col("converted").cast("double")).alias("rate"))
        .collect()
    )
    rate = {(r.segment, r.campaign_id, r.treated): r.rate for r in rates}
    measured = {k: rate[(*k, True)] - rate[(*k, False)] for k in effects}
    # ~200 price seekers per campaign: the standard error of the difference is ~0.06.
    assert measured[("price_seeker", "CMP-01")] > 0.12  # planted 0.25
    assert abs(measured[("lapsed_churned", "CMP-02")]) < 0.06  # planted 0.0
    # Over everyone, treated minus control estimates the planted mean uplift (SE ~0.012).
    outcomes = loaded.tables["campaign_outcomes"].join(truth, "customer_id")
    planted_mean = (
        outcomes.join(loaded.extras["planted_effects"], ["segment", "campaign_id"])
        .filter("treated")
        .agg(F.avg("uplift"))
        .first()[0]
    )
    by_arm = {
        r.treated: r.rate
        for r in outcomes.groupBy("treated")
        .agg(F.avg(F.col("converted").cast("double")).alias("rate"))
        .collect()
    }
    assert by_arm[True] - by_arm[False] == pytest.approx(planted_mean, abs=0.04)
    assert SEGMENTS[4].uplift[0] == effects[("price_seeker", "CMP-01")]


def test_email_sends_give_open_rates_a_denominator(spark):
    cfg = SyntheticConfig(n_customers=300, dirty_share=0.0, seed=4)
    tables = generate(spark, cfg)
    events = tables["events"]
    assert {r.event_type for r in events.select("event_type").distinct().collect()} == set(
        EVENT_TYPES
    )
    assert EVENT_TYPES[-1] == "email_send"
    sends = events.where("event_type = 'email_send'")
    assert {r.channel for r in sends.select("channel").distinct().collect()} == {"email"}
    per_customer = (
        events.join(tables["identities"], ["channel", "channel_id"])
        .groupBy("customer_id")
        .agg(
            F.sum((F.col("event_type") == "email_send").cast("int")).alias("sent"),
            F.sum((F.col("event_type") == "email_open").cast("int")).alias("opened"),
        )
        .toPandas()
    )
    assert len(per_customer) == cfg.n_customers
    assert (per_customer.opened <= per_customer.sent).all()
    # 24 sends a year over each customer's active time (two years at most).
    assert 0 < per_customer.sent.median() <= 2 * 24 + 1
    none = generate(spark, replace(cfg, email_sends_per_year=0.0))["events"]
    assert none.where("event_type = 'email_send'").count() == 0
    assert none.count() == events.count() - sends.count()


def test_planted_migrations_move_customers_at_their_rate_and_change_behaviour(spark):
    moves = [
        PlantedMigrationConfig("loyal_high_frequency", "lapsed_churned", 0.4, "2025-01-01"),
        PlantedMigrationConfig("price_seeker", "high_net_worth", 0.3),
    ]
    cfg = SyntheticConfig(n_customers=2000, dirty_share=0.0, seed=9, migrations=moves)
    tables = generate(spark, cfg)
    planted = tables["planted_migrations"].toPandas()
    assert planted.to_dict("records")[0] == {
        "from_segment_id": 0, "from_segment": "loyal_high_frequency", "to_segment_id": 2,
        "to_segment": "lapsed_churned", "rate": 0.4, "at": date(2025, 1, 1)}
    assert planted["at"].isna().tolist() == [False, True]
    truth = tables["ground_truth"].groupBy("segment").count().toPandas().set_index("segment")
    moved = tables["customer_migrations"].toPandas()
    counts = moved.groupby(["from_segment", "to_segment"]).size()
    for m in moves:
        n = truth.loc[m.from_segment, "count"]
        # Binomial(n, rate): within 4 standard errors.
        assert abs(counts[(m.from_segment, m.to_segment)] / n - m.rate) < 4 * np.sqrt(
            m.rate * (1 - m.rate) / n)
    churned = moved[moved.to_segment == "lapsed_churned"]
    assert (churned.moved_at.dt.date >= date(2025, 1, 1)).all()
    spread = moved[moved.to_segment == "high_net_worth"].moved_at
    assert spread.min() < pd.Timestamp("2024-07-01") and spread.max() > pd.Timestamp("2025-07-01")

    # Behaviour after the move follows the new segment: churned movers buy nothing after
    # it; price seekers who moved spend like high-net-worth customers afterwards.
    tx = tables["transactions"].join(tables["identities"], ["channel", "channel_id"])
    movers = tables["customer_migrations"]
    after = (tx.join(movers, "customer_id").where(F.col("ts") >= F.col("moved_at"))
             .groupBy("to_segment").agg(F.count(F.lit(1)).alias("n"),
                                        F.avg(F.abs("amount")).alias("amount"))
             .toPandas().set_index("to_segment"))
    assert "lapsed_churned" not in after.index
    assert after.loc["high_net_worth", "amount"] > 200  # price seekers spend ~25
    before = (tx.join(movers, "customer_id").where(F.col("ts") < F.col("moved_at"))
              .where("to_segment = 'high_net_worth'").agg(F.avg(F.abs("amount"))).first()[0])
    assert before < 60

    # Without migrations the drift tables are empty and nobody moves.
    still = generate(spark, replace(cfg, migrations=[], n_customers=50))
    assert still["planted_migrations"].count() == 0
    assert still["customer_migrations"].count() == 0


def test_some_planted_effects_are_zero():
    # Effect evaluation needs a segment and campaign with nothing to find.
    assert ("lapsed_churned", 1) in ZERO_UPLIFT and ("high_net_worth", 0) in ZERO_UPLIFT


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(n_customers=0), r"n_customers=0 should be within \[1, 1_000_000_000\]"),
        (dict(n_segments=9), r"n_segments=9 should be within \[1, 7\]"),
        (dict(dirty_share=0.7), r"dirty_share=0.7 should be within \[0, 0.5\]"),
        (dict(activity_scale=0.0), r"activity_scale=0.0 should be > 0"),
        (dict(treated_share=1.0), r"treated_share=1.0 should be within \(0, 1\)"),
        (dict(partitions=0), r"partitions=0 should be >= 1"),
        (dict(start="2024-13-01"), r"start='2024-13-01' is not an ISO date"),
        (dict(end="2023-01-01"), r"end='2023-01-01' should be after start='2024-01-01'"),
        (dict(email_sends_per_year=-1.0), r"email_sends_per_year=-1.0 should be >= 0"),
        (dict(migrations=[PlantedMigrationConfig("loyal", "lapsed_churned", 0.1)]),
         r"segment 'loyal' is not a planted segment"),
        (dict(migrations=[PlantedMigrationConfig("omnichannel", "omnichannel", 0.1)]),
         r"migrations\[0\]: from_segment and to_segment are both 'omnichannel'"),
        (dict(migrations=[PlantedMigrationConfig("omnichannel", "price_seeker", 1.5)]),
         r"migrations\[0\]: rate=1.5 should be within \[0, 1\]"),
        (dict(migrations=[PlantedMigrationConfig("omnichannel", "price_seeker", 0.6),
                          PlantedMigrationConfig("omnichannel", "new_potential", 0.6)]),
         r"migrations\[1\]: the rates out of 'omnichannel' add up to 1.2"),
        (dict(migrations=[PlantedMigrationConfig("omnichannel", "price_seeker", 0.1,
                                                 "2026-03-01")]),
         r"migrations\[0\]: at='2026-03-01' should lie within start='2024-01-01'"),
    ],
)
def test_bad_generator_settings_are_rejected(change, match):
    with pytest.raises(ValueError, match=match):
        check_config(replace(SyntheticConfig(), **change))
