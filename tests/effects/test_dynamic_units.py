"""The pieces of dynamic segmentation on hand-built cases: the schedule, the value of
each migration path between two versions, and segment trends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pytest

from bigseg.config import DynamicConfig
from bigseg.effects.paths import GONE, NEW, path_values, revenue_between, segment_trends
from bigseg.effects.schedule import schedule_dates
from bigseg.tracking.migrations import migration_matrix


def test_schedule_from_a_list_or_start_end_every():
    assert schedule_dates(DynamicConfig(dates=["2025-01-01", "2025-03-01"])) == [
        date(2025, 1, 1), date(2025, 3, 1)]
    every = DynamicConfig(start="2025-01-01", end="2025-03-01", every_days=30)
    # 2025-03-02 would be past the end.
    assert schedule_dates(every) == [date(2025, 1, 1), date(2025, 1, 31)]
    assert schedule_dates(replace(every, end="2025-03-02")) == [
        date(2025, 1, 1), date(2025, 1, 31), date(2025, 3, 2)]


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (DynamicConfig(), r"needs dates, or start, end and every_days"),
        (DynamicConfig(dates=["2025-02-01", "2025-01-01"]), r"should be strictly increasing"),
        (DynamicConfig(dates=["2025-1-01"]), r"dates\[0\]='2025-1-01' should be an ISO date"),
        (DynamicConfig(dates=["2025-02-30"]), r"dates\[0\]='2025-02-30' is not a calendar date"),
        (DynamicConfig(start="2025-01-01", end="2025-02-01", every_days=0),
         r"every_days=0 should be >= 1"),
        (DynamicConfig(start="2025-03-01", end="2025-02-01", every_days=7),
         r"end='2025-02-01' should not be before start='2025-03-01'"),
    ],
)
def test_bad_schedules_are_rejected(cfg, match):
    with pytest.raises(ValueError, match=match):
        schedule_dates(cfg)


# Two versions of five customers. Version 1: c1-c3 Loyal (0), c4-c5 At Risk (1).
# Version 2: c1-c2 stay Loyal, c3 goes to At Risk, c4 stays, c5 is gone, c6 is new.
BEFORE = [("c1", 0, "Loyal", 100.0), ("c2", 0, "Loyal", 80.0), ("c3", 0, "Loyal", 60.0),
          ("c4", 1, "At Risk", 10.0), ("c5", 1, "At Risk", 5.0)]
AFTER = [("c1", 0, "Loyal", 110.0), ("c2", 0, "Loyal", 90.0), ("c3", 1, "At Risk", 20.0),
         ("c4", 1, "At Risk", 4.0), ("c6", 1, "At Risk", 1.0)]
REVENUE = [("c1", 50.0), ("c2", 30.0), ("c3", 12.0), ("c6", 3.0)]
SCHEMA = "customer_id string, segment_id long, segment_name string, clv double"


def test_migration_paths_carry_revenue_and_clv(spark):
    before = spark.createDataFrame(BEFORE, SCHEMA)
    after = spark.createDataFrame(AFTER, SCHEMA)
    revenue = spark.createDataFrame(REVENUE, "customer_id string, revenue double")
    paths = path_values(before, after, revenue).set_index(["segment_before", "segment_after"])
    assert sorted(paths.index) == [(NEW, 1), (0, 0), (0, 1), (1, GONE), (1, 1)]
    loyal = paths.loc[(0, 0)]
    assert (loyal.customers, loyal.revenue, loyal.revenue_per_customer) == (2, 80.0, 40.0)
    assert loyal.share == pytest.approx(2 / 3)
    assert (loyal.clv_before, loyal.clv_after, loyal.clv_change) == (90.0, 100.0, 20.0)
    risk = paths.loc[(0, 1)]
    assert risk.path == "Loyal -> At Risk"
    assert (risk.customers, risk.revenue, risk.clv_before, risk.clv_after) == (1, 12.0, 60.0,
                                                                               20.0)
    assert risk.clv_change == -40.0 and risk.share == pytest.approx(1 / 3)
    gone = paths.loc[(1, GONE)]
    assert (gone.name_after, gone.customers, gone.clv_change) == ("(gone)", 1, -5.0)
    assert np.isnan(gone.clv_after)
    new = paths.loc[(NEW, 1)]
    assert (new.name_before, new.revenue, new.clv_change) == ("(new)", 3.0, 1.0)
    # The migration matrix of the same pair agrees on the common customers.
    m = migration_matrix(before, after)
    assert m.counts.to_numpy().tolist() == [[2, 1], [0, 1]]


def test_revenue_between_two_dates_uses_identities(spark):
    tx = spark.createDataFrame(
        [("web", "W1", datetime(2025, 1, 5), 10.0), ("store", "L1", datetime(2025, 1, 31), 5.0),
         ("web", "W1", datetime(2025, 2, 1), 99.0), ("web", "W1", datetime(2024, 12, 31), 99.0)],
        "channel string, channel_id string, ts timestamp, amount double")
    ids = spark.createDataFrame([("web", "W1", "c1"), ("store", "L1", "c1")],
                                "channel string, channel_id string, customer_id string")
    rows = revenue_between(tx, ids, date(2025, 1, 1), date(2025, 2, 1)).collect()
    assert [(r.customer_id, r.revenue) for r in rows] == [("c1", 15.0)]


def test_segment_trends_say_which_segments_grow_or_shrink():
    sizes = [{0: 100, 1: 50, 2: 10}, {0: 60, 1: 95, 2: 10, 3: 5}, {0: 60, 1: 95, 3: 6}]
    trends = segment_trends(sizes, ["v1", "v2", "v3"], {0: "Loyal", 1: "At Risk"},
                            threshold=0.1).set_index(["version", "segment_id"])
    assert trends.loc[("v1", 0), "trend"] == "stable"
    assert trends.loc[("v2", 0), "trend"] == "shrinking"
    assert trends.loc[("v2", 0), "relative_change"] == pytest.approx(-0.4)
    assert trends.loc[("v2", 1), "trend"] == "growing" and trends.loc[("v2", 1), "change"] == 45
    assert trends.loc[("v2", 2), "trend"] == "stable"
    assert trends.loc[("v2", 3), "trend"] == "new"
    assert trends.loc[("v3", 2), "trend"] == "retired" and trends.loc[("v3", 2), "size"] == 0
    assert trends.loc[("v3", 3), "trend"] == "growing"  # 5 -> 6 is +20%
    assert trends.loc[("v2", 1), "segment_name"] == "At Risk"
    assert trends.loc[("v2", 3), "segment_name"] == "segment_3"
    assert trends.loc[("v2", 0), "share"] == pytest.approx(60 / 170)
    with pytest.raises(ValueError, match=r"threshold=-1 should be >= 0"):
        segment_trends(sizes, ["v1", "v2", "v3"], threshold=-1)
    with pytest.raises(ValueError, match=r"sizes \(3\) and labels \(2\) should match"):
        segment_trends(sizes, ["v1", "v2"])
