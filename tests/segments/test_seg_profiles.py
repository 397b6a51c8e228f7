"""Profiles against a hand-computed example; names, actions and their error tables."""

from __future__ import annotations

import numpy as np
import pytest

from bigseg.config import ProfileConfig
from bigseg.segments import profile_segments, suggest_actions
from bigseg.segments.actions import check_playbook

# segment, monetary, frequency, channel_share_web
ROWS = [("A", 100.0, 10.0, 1.0), ("A", 200.0, 10.0, 1.0), ("A", 300.0, 10.0, 0.5),
        ("B", 10.0, 1.0, 0.0), ("B", 30.0, 3.0, 0.0), ("C", 60.0, 6.0, 1.0)]
CFG = ProfileConfig(
    features=["monetary", "frequency"], revenue_col="monetary", top_n=2, name_words=2,
    vocabulary={"monetary": {"high": "high-value", "low": "low-spend"},
                "frequency": {"high": "frequent", "low": "occasional"}},
)


@pytest.fixture
def profiles(spark):
    df = spark.createDataFrame(
        [(f"c{i}", *r) for i, r in enumerate(ROWS)],
        "customer_id string, seg string, monetary double, frequency double, "
        "channel_share_web double")
    return profile_segments(df, "seg", CFG)


def test_sizes_shares_revenue_and_means(profiles):
    t = profiles.table
    assert t["size"].to_dict() == {"A": 3, "B": 2, "C": 1}
    assert t["share"].to_dict() == pytest.approx({"A": 0.5, "B": 1 / 3, "C": 1 / 6})
    # Revenue 600 + 40 + 60 = 700.
    assert t["revenue_share"].to_dict() == pytest.approx({"A": 6 / 7, "B": 0.4 / 7, "C": 0.6 / 7})
    assert t["mean_monetary"].to_dict() == pytest.approx({"A": 200.0, "B": 20.0, "C": 60.0})
    assert t.loc["A", "median_monetary"] == 200.0
    assert profiles.population.iloc[0]["mean_frequency"] == pytest.approx(40 / 6)
    assert t["mix_web"].to_dict() == pytest.approx({"A": 2.5 / 3, "B": 0.0, "C": 1.0})


def test_lift_index_100_is_average(profiles):
    lifts = profiles.lifts
    # Population means: monetary 700 / 6, frequency 40 / 6.
    assert lifts.loc["A", "monetary"] == pytest.approx(100 * 200 / (700 / 6))  # 171.4
    assert lifts.loc["B", "monetary"] == pytest.approx(100 * 20 / (700 / 6))  # 17.1
    assert lifts.loc["A", "frequency"] == pytest.approx(150.0)
    assert lifts.loc["C", "frequency"] == pytest.approx(90.0)
    # Weighted by size, the indexes average to 100.
    sizes = profiles.table["size"]
    assert (lifts["monetary"] * sizes).sum() / sizes.sum() == pytest.approx(100.0)


def test_distinguishing_features_and_names(profiles):
    t = profiles.table
    pop_std_m = np.std([r[1] for r in ROWS])
    assert t.loc["A", "z_monetary"] == pytest.approx((200 - 700 / 6) / pop_std_m)
    # |z|: A frequency 0.92 > monetary 0.81; C monetary 0.55 > frequency 0.18.
    assert t.loc["A", "top_features"] == ["frequency", "monetary"]
    assert t.loc["C", "top_features"] == ["monetary", "frequency"]
    assert profiles.names() == {"A": "frequent high-value", "B": "occasional low-spend",
                                "C": "low-spend"}


def test_names_set_by_hand_win(spark):
    df = spark.createDataFrame([(s, m, f) for s, m, f, _ in ROWS],
                               "seg string, monetary double, frequency double")
    cfg = ProfileConfig(**{**CFG.__dict__, "names": {"A": "Stars"}, "channel_prefix": ""})
    assert profile_segments(df, "seg", cfg).names()["A"] == "Stars"


PLAYBOOK = [
    {"segment": "B", "action": "win-back offer"},
    {"name_contains": "low-spend", "action": "upsell {name}"},
    {"trait": {"monetary": "high"}, "action": "premium service for {name} ({top_feature})"},
]


def test_playbook_actions_from_profiles(profiles):
    assert suggest_actions(profiles, PLAYBOOK, "monitor", CFG) == {
        "A": "premium service for frequent high-value (frequency)",
        "B": "win-back offer",
        "C": "upsell low-spend",
    }
    assert suggest_actions(["B", "Z"], PLAYBOOK, "monitor {segment}") == {
        "B": "win-back offer", "Z": "monitor Z"}


BAD_PLAYBOOK = [
    ([{"segment": "A"}], "entry #0 needs an `action`"),
    ([{"action": "x"}], "exactly one of"),
    ([{"segment": "A", "trait": {"m": "high"}, "action": "x"}], "exactly one of"),
    ([{"segment": "A", "action": "call {phone}"}], r"uses \['phone'\]"),
    ([{"trait": {"m": "huge"}, "action": "x"}], "trait should map features to 'high' or 'low'"),
]


@pytest.mark.parametrize(("playbook", "match"), BAD_PLAYBOOK)
def test_bad_playbooks(playbook, match):
    with pytest.raises(ValueError, match=match):
        check_playbook(playbook)


BAD_PROFILE = [
    ({"segment_col": "nope"}, "segment column 'nope' is not in the table"),
    ({"features": ["nope"]}, r"profile features \['nope'\] are not in the table"),
    ({"features": []}, "at least one column"),
    ({"cfg": ProfileConfig(revenue_col="rev")}, "revenue_col='rev' is not in the table"),
    ({"cfg": ProfileConfig(revenue_col=None, low_index=130)}, "low_index=130 should be <"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_PROFILE)
def test_bad_profile_requests(spark, kwargs, match):
    df = spark.createDataFrame([("A", 1.0)], "seg string, monetary double")
    args = {"segment_col": "seg", "cfg": ProfileConfig(revenue_col=None),
            "features": ["monetary"], **kwargs}
    with pytest.raises(ValueError, match=match):
        profile_segments(df, args["segment_col"], args["cfg"], args["features"])
