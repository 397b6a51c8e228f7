"""Effect evaluation: hand-built lifts, ROI and insufficient segments; a deterministic
bootstrap; and on generated data, the planted uplifts recovered within their intervals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from bigseg.config import EffectsConfig, SyntheticConfig
from bigseg.data.segments import ZERO_UPLIFT
from bigseg.data.synthetic import generate
from bigseg.effects.bootstrap import bootstrap_sums, poisson_cumulative
from bigseg.effects.lift import ALL, INSUFFICIENT, evaluate_effects

CFG = EffectsConfig(segment_col="segment_id", name_col="segment_name", min_per_arm=50,
                    cost_per_contact=0.5, bootstrap_replicates=100)


def _arm(segment: str, treated: bool, n: int, converted: int, revenue: float, start: int):
    """n customers of one segment and arm, the first ``converted`` of whom bought."""
    return [(f"{segment}{treated:d}-{i}", "CMP-01", treated, i < converted,
             revenue if i < converted else 0.0) for i in range(start, start + n)]


@pytest.fixture
def hand_built(spark):
    """Segment A: 60/200 treated vs 40/200 control convert, 10.0 each; B: 10 per arm."""
    rows = (_arm("A", True, 200, 60, 10.0, 0) + _arm("A", False, 200, 40, 10.0, 0)
            + _arm("B", True, 10, 5, 20.0, 0) + _arm("B", False, 10, 5, 20.0, 0)
            + [("nobody", "CMP-01", True, True, 100.0)])
    outcomes = spark.createDataFrame(
        rows, "customer_id string, campaign_id string, treated boolean, converted boolean, "
              "revenue double")
    segments = outcomes.where("customer_id != 'nobody'").select(
        "customer_id", F.substring("customer_id", 1, 1).alias("segment_id"),
        F.concat(F.lit("seg "), F.substring("customer_id", 1, 1)).alias("segment_name"),
    ).distinct()
    return outcomes, segments


def test_lift_roi_and_insufficient_segments_on_a_hand_built_case(hand_built):
    outcomes, segments = hand_built
    report = evaluate_effects(outcomes, segments, CFG)
    a = report.row("CMP-01", "A")
    assert (a.n_treated, a.n_control, a.conv_treated, a.conv_control) == (200, 200, 60, 40)
    assert (a.rate_treated, a.rate_control) == (0.3, 0.2)
    assert a.lift_abs == pytest.approx(0.1) and a.lift_rel == pytest.approx(0.5)
    # Newcombe's interval of 60/200 - 40/200 excludes 0 (z = 2.3): significant.
    assert 0.0 < a.lift_lo < 0.1 < a.lift_hi
    assert a.significant and a.status == "positive"
    assert (a.rev_per_treated, a.rev_per_control) == (3.0, 2.0)
    assert a.incremental_conversions == pytest.approx(20.0)
    assert a.incremental_revenue == pytest.approx(200.0)
    assert a.cost == pytest.approx(100.0) and a.roi == pytest.approx(1.0)
    assert a.rev_lift_lo < 1.0 < a.rev_lift_hi and a.lift_rel_lo < 0.5 < a.lift_rel_hi
    assert a.segment_name == "seg A"
    b = report.row("CMP-01", "B")
    assert b.status == INSUFFICIENT and not b.significant and b.lift_abs == 0.0
    # ALL counts every outcome, the customer without a segment included.
    total = report.row("CMP-01", ALL)
    assert (total.n_treated, total.n_control, total.conv_treated) == (211, 210, 66)
    assert report.n_unsegmented == 1
    metrics = report.metrics()
    assert metrics["CMP-01.A.roi"] == pytest.approx(1.0)
    assert metrics["CMP-01.B.insufficient"] == 1.0 and metrics["segments_significant"] == 1.0


def test_no_cost_gives_no_roi_and_campaigns_filter(hand_built):
    outcomes, segments = hand_built
    report = evaluate_effects(outcomes, segments, replace(CFG, cost_per_contact=0.0))
    assert np.isnan(report.row("CMP-01", "A").roi)
    with pytest.raises(ValueError, match=r"no campaign outcomes to evaluate for campaigns"):
        evaluate_effects(outcomes, segments, replace(CFG, campaigns=["CMP-99"]))


def test_bootstrap_is_deterministic_by_seed_and_independent_of_partitions(hand_built):
    outcomes, segments = hand_built
    one = evaluate_effects(outcomes.coalesce(1), segments, CFG).table
    four = evaluate_effects(outcomes.repartition(4), segments, CFG).table
    pd.testing.assert_frame_equal(one, four)
    other = evaluate_effects(outcomes, segments, replace(CFG, bootstrap_seed=1)).table
    assert not np.allclose(one["rev_lift_lo"], other["rev_lift_lo"], equal_nan=True)
    # Only the bootstrap columns depend on the seed.
    exact = ["lift_abs", "lift_lo", "lift_hi", "roi", "rate_treated_lo"]
    pd.testing.assert_frame_equal(one[exact], other[exact])


def test_poisson_weights_have_mean_and_variance_one(spark):
    assert poisson_cumulative()[-1] == 1.0
    rows = spark.range(2000).select(F.col("id").cast("string").alias("k"),
                                    F.lit("g").alias("g"), F.lit(1.0).alias("one"))
    sums = bootstrap_sums(rows, ["g"], {"one": F.col("one")}, keys=["k"], replicates=50,
                          seed=3)
    assert len(sums) == 50 and sums["replicate"].tolist() == list(range(50))
    # Sum of 2000 Poisson(1) weights: mean 2000, sd ~45.
    assert abs(sums["n"].mean() - 2000) < 30
    assert 25 < sums["n"].std() < 70


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(alpha=0.0), r"alpha=0.0 should be within \(0, 1\)"),
        (dict(min_per_arm=0), r"min_per_arm=0 should be >= 1"),
        (dict(cost_per_contact=-1.0), r"cost_per_contact=-1.0 should be >= 0"),
        (dict(bootstrap_replicates=5), r"bootstrap_replicates=5 should be >= 10"),
        (dict(segment_col="cluster"), r"the segments table lacks column 'cluster'"),
    ],
)
def test_bad_effect_settings_are_rejected(hand_built, change, match):
    outcomes, segments = hand_built
    with pytest.raises(ValueError, match=match):
        evaluate_effects(outcomes, segments, replace(CFG, **change))


def test_missing_outcome_columns_are_named(hand_built):
    outcomes, segments = hand_built
    with pytest.raises(ValueError, match=r"the outcomes table lacks columns \['revenue'\]"):
        evaluate_effects(outcomes.drop("revenue"), segments, CFG)


def test_planted_uplifts_lie_within_the_reported_intervals(spark):
    gen = SyntheticConfig(n_customers=4000, n_campaigns=4, dirty_share=0.0, seed=21)
    tables = generate(spark, gen)
    cfg = EffectsConfig(segment_col="segment", name_col="segment", min_per_arm=100,
                        bootstrap_replicates=100)
    report = evaluate_effects(tables["campaign_outcomes"], tables["ground_truth"], cfg)
    planted = tables["planted_effects"].toPandas()
    rows = report.segments.merge(planted, left_on=["segment", "campaign_id"],
                                 right_on=["segment", "campaign_id"], validate="one_to_one")
    assert len(rows) == 6 * 4 and (rows["status"] != INSUFFICIENT).all()
    covered = (rows["lift_lo"] <= rows["uplift"]) & (rows["uplift"] <= rows["lift_hi"])
    assert covered.mean() >= 0.9, rows.loc[~covered, ["segment", "campaign_id", "lift_abs",
                                                      "lift_lo", "lift_hi", "uplift"]]
    # Segments with no planted effect are not flagged; strong effects (power > 0.99 at
    # these sizes) are, and the bootstrap finds the treated earning more there.
    zero = rows[rows["uplift"] == 0.0]
    assert len(zero) == 2 * len(ZERO_UPLIFT) and not zero["significant"].any()
    strong = rows[rows["uplift"] >= 0.15]
    assert len(strong) == 6 and strong["significant"].all()
    assert (strong["rev_lift_lo"] > 0).all()
