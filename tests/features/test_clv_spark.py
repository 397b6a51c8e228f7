"""CLV through Spark: summaries, the grouped driver-side fit on CDNOW, executor scoring."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from shop_data import AS_OF, AS_OF_DAY, days_before

from bigseg.config import FeaturesConfig
from bigseg.features import clv_spark, identity
from bigseg.features.behaviour import ActivityLevels, aggregate_transactions
from bigseg.features.build import build_features
from bigseg.features.clv import (
    BGNBDParams,
    DegenerateFitWarning,
    GammaGammaParams,
    customer_lifetime_value,
    expected_purchases,
    probability_alive,
)
from bigseg.io.contracts import IDENTITIES, TRANSACTIONS

# Fader, Hardie & Lee (2005); Fader & Hardie (2013): CDNOW sample, calibration to 1997-09-30.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
CDNOW_AS_OF = "1997-10-01"


def _cdnow_sample() -> Path:
    dist = importlib.metadata.distribution("lifetimes")
    for file in dist.files or []:
        if str(file).endswith("datasets/CDNOW_sample.txt"):
            return Path(dist.locate_file(file))
    raise FileNotFoundError("CDNOW_sample.txt not found in the lifetimes distribution")


def _cdnow_tables(spark):
    raw = pd.read_csv(_cdnow_sample(), sep=r"\s+", header=None,
                      names=["customer", "sample_id", "date", "cds", "amount"])
    raw = raw.astype({"customer": str, "date": str})
    raw["transaction_id"] = [f"r{i}" for i in range(len(raw))]
    df = spark.createDataFrame(raw[["transaction_id", "customer", "date", "cds", "amount"]])
    transactions = df.select(
        F.col("transaction_id"),
        F.col("customer").alias("channel_id"),
        F.lit("web").alias("channel"),
        F.to_timestamp(F.col("date"), "yyyyMMdd").alias("ts"),
        F.col("amount").cast("double").alias("amount"),
        F.col("cds").cast("int").alias("quantity"),
        F.lit(None).cast("string").alias("category"),
        F.lit(None).cast("double").alias("discount"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in TRANSACTIONS.schema])
    identities = df.select(F.lit("web").alias("channel"), F.col("customer").alias("channel_id"),
                           F.col("customer").alias("customer_id")).distinct()
    identities = identities.select(*[F.col(f.name).cast(f.dataType) for f in IDENTITIES.schema])
    return {"transactions": transactions, "identities": identities}, raw


class _Memo:
    build = None


@pytest.fixture
def cdnow_build(spark):
    if _Memo.build is None:
        tables, raw = _cdnow_tables(spark)
        cfg = FeaturesConfig(as_of=CDNOW_AS_OF, channels=["web"], categories=[],
                             digest_inputs=False)
        fs = build_features(spark, tables, cfg)
        _Memo.build = (fs, raw)
    return _Memo.build


def test_bgnbd_through_spark_matches_the_published_cdnow_fit(cdnow_build):
    fs, _ = cdnow_build
    fitted = fs.metadata.clv["bgnbd"]
    for name, published in PUBLISHED_BGNBD.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    assert fitted["n_customers"] == 2357
    # grouped: far fewer tuples than customers
    assert fs.metadata.clv["n_bgnbd_tuples"] < 2357


def test_gamma_gamma_through_spark_matches_the_published_cdnow_fit(cdnow_build):
    fs, _ = cdnow_build
    fitted = fs.metadata.clv["gamma_gamma"]
    for name, published in PUBLISHED_GG.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    assert fitted["n_customers"] == 946
    assert fitted["spend_model"] == fs.metadata.clv["spend_model"] == "gamma_gamma"
    assert "Gamma-Gamma" in fs.metadata.feature("clv_value")["doc"]


def test_degenerate_spend_fit_keeps_clv_value_and_records_the_fallback(spark):
    # Every purchase of a customer costs the same (spend varies only across customers):
    # the Gamma-Gamma fit runs to p -> inf and CLV falls back to the customer's mean spend.
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.poisson(3.0, n).astype(float)
    big_t = rng.integers(100, 700, n).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0.2, 1.0, n) * big_t), 0.0)
    m = np.where(x > 0, np.round(200.0 / rng.gamma(3.0, 1.0, n), 2), 0.0)
    summary = spark.createDataFrame(pd.DataFrame(
        {clv_spark.X: x, clv_spark.T_X_DAYS: t_x, clv_spark.T_DAYS: big_t, clv_spark.M: m}))
    cfg = FeaturesConfig(clv_spend_precision=1e-6)
    with pytest.warns(DegenerateFitWarning, match="degenerate"):
        model = clv_spark.fit(summary, cfg)
    recorded = model.to_dict()
    assert recorded["spend_model"] == recorded["gamma_gamma"]["spend_model"]
    assert recorded["spend_model"] == "customer_mean_spend"
    assert clv_spark.CLVModel.from_dict(recorded) == model
    assert model.gamma_gamma.population_mean == pytest.approx(m[x > 0].mean(), rel=1e-6)
    scored = summary.select("*", clv_spark.score_column(model, cfg).alias("s")).toPandas()
    value = np.array([s["value"] for s in scored["s"]])
    # No discounting: value = expected purchases over the horizon x expected spend, which
    # is the customer's own mean spend (the population mean without repeat purchases).
    purchases = expected_purchases(model.bgnbd, 365 / 7, x, t_x / 7, big_t / 7)
    spend = np.where(x > 0, m, model.gamma_gamma.population_mean)
    assert np.isfinite(value).all()
    assert value == pytest.approx(purchases * spend, rel=1e-9)


def test_cdnow_rows_after_the_calibration_period_are_accounted_for(cdnow_build):
    fs, raw = cdnow_build
    counts = fs.counts["transactions"]
    after = int((raw["date"] >= "19971001").sum())
    assert counts["rows_after_as_of"] == after
    assert counts["rows_used"] == len(raw) - after
    assert counts["rows_quarantined"] == 0


def _per_customer(raw: pd.DataFrame) -> pd.DataFrame:
    """Per-customer purchase days, first/last day, total and first day's amount (pandas)."""
    raw = raw.assign(day=pd.to_datetime(raw["date"], format="%Y%m%d"))
    calib = raw[raw["day"] < pd.Timestamp(CDNOW_AS_OF)]
    daily = calib.groupby(["customer", "day"])["amount"].sum().reset_index().sort_values("day")
    return daily.groupby("customer").agg(first=("day", "min"), last=("day", "max"),
                                         n=("day", "count"), total=("amount", "sum"),
                                         first_amount=("amount", "first"))


@pytest.mark.parametrize(("step", "rel"), [(1, 0.01), (7, 0.02)])
def test_bgnbd_fit_on_binned_times_stays_close(spark, cdnow_build, step, rel):
    _, raw = cdnow_build
    per = _per_customer(raw)
    end = pd.Timestamp("1997-09-30")
    summary = spark.createDataFrame(pd.DataFrame({
        clv_spark.X: (per["n"] - 1).astype(float),
        clv_spark.T_X_DAYS: (per["last"] - per["first"]).dt.days.astype(float),
        clv_spark.T_DAYS: (end - per["first"]).dt.days.astype(float),
    }))
    params, n_tuples = clv_spark.fit_bgnbd_spark(summary, step)
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(params, name) == pytest.approx(published, rel=rel), name
    assert n_tuples < len(per)


def test_executor_scores_equal_the_numpy_model(cdnow_build):
    fs, raw = cdnow_build
    per = _per_customer(raw)
    end = pd.Timestamp("1997-09-30")
    repeaters = per.index[per["n"] > 1]
    ids = [*repeaters[:4], *per.index[per["n"] == 1][:2]]
    got = {r["customer_id"]: r for r in fs.df.where(F.col("customer_id").isin(ids)).collect()}
    bg = BGNBDParams(**fs.metadata.clv["bgnbd"])
    gg = GammaGammaParams(**fs.metadata.clv["gamma_gamma"])
    for cid in ids:
        p = per.loc[cid]
        x = p["n"] - 1.0
        t_x, big_t = (p["last"] - p["first"]).days / 7, (end - p["first"]).days / 7
        m = (p["total"] - p["first_amount"]) / x if x > 0 else 0.0
        assert got[cid]["clv_p_alive"] == pytest.approx(
            float(probability_alive(bg, x, t_x, big_t)), rel=1e-9)
        assert got[cid]["clv_expected_purchases"] == pytest.approx(
            float(expected_purchases(bg, 365 / 7, x, t_x, big_t)), rel=1e-9)
        value = customer_lifetime_value(bg, gg, [x], [t_x], [big_t], [m],
                                        horizon=365 / 7, step=30 / 7)
        assert got[cid]["clv_value"] == pytest.approx(float(value[0]), rel=1e-9)


def test_summary_of_a_hand_built_customer(spark, shop):
    attached = identity.attach(shop["transactions"], identity.resolve(shop["identities"]),
                               "transactions")
    agg = aggregate_transactions(attached, AS_OF_DAY, FeaturesConfig(as_of=AS_OF.isoformat()),
                                 ActivityLevels())
    row = agg.select("customer_id", *clv_spark.summary_columns(AS_OF_DAY)).where(
        "customer_id = 'C1'").first()
    # purchase days 2023-06-01, 2024-04-15, 2024-06-20 (two purchases), 2024-06-30
    first = days_before("2023-06-01")
    assert row[clv_spark.X] == 3.0
    assert row[clv_spark.T_X_DAYS] == first - 1  # first to last purchase day (the day before as_of)
    assert row[clv_spark.T_DAYS] == first - 1  # first purchase day to as_of - 1 day
    assert row[clv_spark.M] == pytest.approx((50 + 30 + 20 + 10) / 3)  # repeat days' mean


def test_scorer_returns_nulls_without_purchases_and_skips_value_without_spend_model(spark):
    bg = BGNBDParams(0.243, 4.414, 0.793, 2.426, 0.0, 0.0)
    model = clv_spark.CLVModel(bg, None, 1, 0)
    df = spark.createDataFrame([(2.0, 30.0, 60.0, 10.0), (None, None, None, None)],
                               "clv_x double, clv_t_x_days double, clv_T_days double, clv_m double")
    out = df.select(clv_spark.score_column(model, FeaturesConfig()).alias("s")).collect()
    expected = probability_alive(bg, 2.0, 30 / 7, 60 / 7)
    assert out[0]["s"]["p_alive"] == pytest.approx(float(expected), rel=1e-12)
    assert out[0]["s"]["value"] is None
    assert out[1]["s"]["p_alive"] is None
    assert np.isfinite(out[0]["s"]["expected_purchases"])


def test_model_round_trips_through_a_dict():
    bg = BGNBDParams(0.2, 4.0, 0.8, 2.4, -1.0, 10.0)
    gg = GammaGammaParams(6.0, 3.7, 15.0, -2.0, 5.0)
    for model in (clv_spark.CLVModel(bg, gg, 3, 4), clv_spark.CLVModel(bg, None, 3, 0)):
        assert clv_spark.CLVModel.from_dict(model.to_dict()) == model
