"""Value tiers, lifecycle, grids and psychographic rules on hand-built rows; the coverage
and overlap report; bad rule files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigseg.config import RuleSetConfig, SegmentsConfig
from bigseg.segments.rules import (
    RuleCoverageError,
    apply_rules,
    apply_ruleset,
    band_labels,
    fit_ruleset,
    load_ruleset,
)

RULES = Path(__file__).resolve().parents[2] / "bigseg" / "conf" / "segments" / "rules"


def segments_of(out, col):
    return {r.customer_id: r[col] for r in out.collect()}


def test_value_tiers_by_percentiles(spark):
    # monetary 1..10: p80 = 8 -> 8, 9, 10 are high-value. clv: p60 = 6.
    rows = [(f"c{i}", float(i), float(11 - i)) for i in range(1, 11)]
    df = spark.createDataFrame(rows, "customer_id string, monetary double, clv_value double")
    out, check = apply_ruleset(df, load_ruleset(RULES / "value_tier.yaml"))
    got = segments_of(out, "segment_value_tier")
    # clv = 11 - i >= 6  <=>  i <= 5
    want = {f"c{i}": "high-value" if i >= 8 else "potential" if i <= 5 else "ordinary"
            for i in range(1, 11)}
    assert got == want
    assert check.sizes == {"high-value": 3, "ordinary": 2, "potential": 5}


def test_ecommerce_tiers(spark):
    rows = [("a", 10.0, 40.0), ("b", 20.0, 1.0), ("c", 200.0, 50.0), ("d", 30.0, 2.0)]
    df = spark.createDataFrame(rows, "customer_id string, recency_days double, frequency double")
    out, _ = apply_ruleset(df, load_ruleset(RULES / "ecommerce_tier.yaml"))
    # Frequency p75 over all four (1, 2, 40, 50) is 40.
    assert segments_of(out, "segment_ecommerce_tier") == {
        "a": "high-frequency", "b": "potential", "c": "churned", "d": "potential"}


LIFECYCLE = [
    # id, tenure, recency, p_alive, expected
    ("new", 30.0, 5.0, 0.9, "new"),
    ("active", 400.0, 10.0, 0.9, "active"),
    ("quiet", 400.0, 120.0, 0.9, "at risk"),
    ("fading", 400.0, 10.0, 0.3, "at risk"),
    ("gone", 400.0, 400.0, 0.9, "churned"),
    ("dead", 400.0, 10.0, 0.1, "churned"),
]


def test_lifecycle_stages(spark):
    df = spark.createDataFrame([r[:4] for r in LIFECYCLE],
                               "customer_id string, tenure_days double, recency_days double, "
                               "clv_p_alive double")
    out, check = apply_ruleset(df, load_ruleset(RULES / "lifecycle.yaml"))
    assert segments_of(out, "segment_lifecycle") == {r[0]: r[4] for r in LIFECYCLE}
    assert check.is_partition


def test_age_band_by_region_grid_reports_missing_values_as_uncovered(spark):
    rows = [("a", 24, "north"), ("b", 25, "north"), ("c", 64, "south"), ("d", 70, "south"),
            ("e", None, "south"), ("f", 40, None)]
    df = spark.createDataFrame(rows, "customer_id string, age int, region string")
    cfg = load_ruleset(RULES / "demographic.yaml")
    with pytest.raises(RuleCoverageError, match=r"2 of 6 customers match no rule") as err:
        apply_ruleset(df, cfg)
    assert {e["customer_id"] for e in err.value.check.examples_uncovered} == {"e", "f"}
    out, check = apply_ruleset(df, cfg, allow_uncovered=True)
    assert segments_of(out, "segment_demographic") == {
        "a": "<25 x north", "b": "25-34 x north", "c": "55-64 x south", "d": "65+ x south",
        "e": None, "f": None}
    assert check.n_uncovered == 2 and check.sizes["65+ x south"] == 1


def test_city_tier_grid(spark):
    df = spark.createDataFrame([("a", 1), ("b", 3)], "customer_id string, city_tier int")
    out, _ = apply_ruleset(df, load_ruleset(RULES / "geographic.yaml"))
    assert segments_of(out, "segment_geographic") == {"a": "tier 1", "b": "tier 3"}


def test_psychographic_first_match_wins_and_overlaps_are_only_reported(spark):
    # "none" answered no survey: its scores are imputed (3.0) and flagged.
    rows = [("both", 4.5, 4.5, 2.0, 2.0, 0.0), ("brand", 2.0, 4.2, 2.0, 2.0, 0.0),
            ("plain", 3.0, 3.0, 3.0, 3.0, 0.0), ("none", 3.0, 3.0, 3.0, 3.0, 1.0)]
    df = spark.createDataFrame(rows, "customer_id string, survey_price_sensitivity double, "
                                     "survey_brand_loyalty double, survey_eco_consciousness "
                                     "double, survey_tech_affinity double, "
                                     "survey_price_sensitivity_missing double")
    out, check = apply_ruleset(df, load_ruleset(RULES / "psychographic.yaml"))
    assert segments_of(out, "segment_psychographic") == {
        "both": "price-driven", "brand": "brand-loyal", "plain": "mainstream",
        "none": "no survey"}
    assert check.overlaps == {"price-driven + brand-loyal": 1}
    assert check.n_otherwise == 1 and check.n_uncovered == 0


# Two rules that overlap on x = 5 and leave x = 9 uncovered.
GAPPY = RuleSetConfig(
    name="gappy", inputs={"x": "x"},
    segments=[{"name": "low", "when": {"x": {"le": 5}}},
              {"name": "mid", "when": {"x": {"between": [5, 8]}}}],
)


@pytest.fixture
def xs(spark):
    return spark.createDataFrame([(f"c{x}", x) for x in (1, 5, 5, 7, 9)],
                                 "customer_id string, x int")


def test_overlap_and_uncovered_rows_are_counted_with_examples(xs):
    seg = fit_ruleset(xs, GAPPY)
    check = seg.check(xs, examples=1)
    assert (check.n_rows, check.n_uncovered, check.n_overlap) == (5, 1, 2)
    assert check.overlaps == {"low + mid": 2}
    assert check.sizes == {"low": 3, "mid": 1}  # the first matching rule wins
    assert check.examples_uncovered == [{"customer_id": "c9", "x": 9, "matched": []}]
    assert len(check.examples_overlap) == 1
    assert check.examples_overlap[0]["matched"] == ["low", "mid"]
    table = check.table().set_index("segment")["customers"].to_dict()
    assert table == {"low": 3, "mid": 1, "(uncovered)": 1, "(overlap) low + mid": 2}


@pytest.mark.parametrize(
    ("allow_uncovered", "allow_overlap", "match"),
    [
        (False, False, r"1 of 5 customers match no rule.*2 of 5 customers match two or more"),
        (True, False, r"2 of 5 customers match two or more rules \(low \+ mid: 2"),
        (False, True, r"1 of 5 customers match no rule \(examples: \[\{'customer_id': 'c9'"),
    ],
)
def test_a_rule_table_that_is_not_a_partition_fails_unless_allowed(
    xs, allow_uncovered, allow_overlap, match
):
    with pytest.raises(RuleCoverageError, match=match):
        apply_ruleset(xs, GAPPY, allow_uncovered=allow_uncovered, allow_overlap=allow_overlap)


def test_allowed_problems_pass_and_otherwise_covers_the_rest(xs):
    out, check = apply_ruleset(xs, GAPPY, allow_uncovered=True, allow_overlap=True)
    assert segments_of(out, "segment_gappy")["c9"] is None
    cfg = RuleSetConfig(**{**GAPPY.__dict__, "otherwise": "other", "allow_overlap": True})
    out, check = apply_ruleset(xs, cfg)
    assert segments_of(out, "segment_gappy")["c9"] == "other"
    assert check.n_uncovered == 0 and check.sizes["other"] == 1


def test_apply_rules_runs_the_configured_rule_sets(xs):
    ok = RuleSetConfig(inputs={"x": "x"}, segments=[
        {"name": "small", "when": {"x": {"lt": 6}}}, {"name": "big", "when": {"x": {"ge": 6}}}])
    cfg = SegmentsConfig(rules=["size"], rulesets={"size": ok})
    out, checks = apply_rules(xs, cfg)
    assert checks["size"].sizes == {"big": 2, "small": 3}
    assert "segment_size" in out.columns


def test_band_labels():
    assert band_labels([25, 35, 45]) == ["<25", "25-34", "35-44", "45+"]
    assert band_labels([0.5, 1.5]) == ["<0.5", "0.5-<1.5", "1.5+"]


def _rs(**kw):
    base = {"name": "bad", "inputs": {"x": "x"},
            "segments": [{"name": "a", "when": {"x": 1}}]}
    return RuleSetConfig(**{**base, **kw})


BAD = [
    (_rs(name=""), ValueError, "a rule set needs a name"),
    (_rs(kind="tree"), ValueError, r"kind='tree' should be one of \('rules', 'grid'\)"),
    (_rs(resolve="last"), ValueError, r"resolve='last' should be one of"),
    (_rs(segments=[]), ValueError, "needs at least one segment"),
    (_rs(segments=[{"name": "a"}]), ValueError, r"segment #0 should be a mapping with `name`"),
    (_rs(segments=[{"name": "a", "when": {"x": 1}}] * 2), ValueError, "'a' appears twice"),
    (_rs(inputs={"x": "nope"}), ValueError, r"input 'x' reads column 'nope', which the table"),
    (_rs(inputs={"x": "x +* 2"}), ValueError, r"input 'x' = 'x \+\* 2' does not compile"),
    (_rs(segments=[{"name": "a", "when": {"y": 1}}]), ValueError,
     r"segment 'a': unknown input 'y'; the rule set's inputs are \['x'\]"),
    (_rs(segments=[{"name": "a", "when": {"x": {"near": 1}}}]), ValueError,
     r"segment 'a': x: unknown test 'near'"),
    (_rs(segments=[{"name": "a", "when": {"x": {"pct_ge": 80}}}]), ValueError,
     r"x: \{pct_ge: 80\} needs a percentile strictly between 0 and 1"),
    (_rs(segments=[{"name": "a", "when": {"x": {"between": [1]}}}]), ValueError,
     r"`between` needs \[low, high\]"),
    (_rs(segments=[{"name": "a", "when": {"sql": "{y} > 1"}}]), ValueError,
     r"sql '\{y\} > 1' names \{y\}"),
    (_rs(segments=[{"name": "a", "when": {}}]), ValueError, "`when` should be a non-empty"),
    (_rs(kind="grid", dimensions=[{"input": "x", "bands": [3, 1]}]), ValueError,
     r"bands=\[3, 1\] should be strictly increasing"),
    (_rs(kind="grid", dimensions=[{"input": "z"}]), ValueError, "reads input 'z', not one of"),
    (_rs(kind="grid", dimensions=[{"input": "x", "bands": [1], "labels": ["a"]}]), ValueError,
     r"should have len\(bands\) \+ 1 = 2 entries"),
]


@pytest.mark.parametrize(("cfg", "error", "match"), BAD)
def test_bad_rule_files_name_the_rule_and_the_value(xs, cfg, error, match):
    with pytest.raises(error, match=match):
        fit_ruleset(xs, cfg)


def test_sql_conditions_and_logic(xs):
    cfg = _rs(segments=[
        {"name": "odd-or-big", "when": {"any": [{"sql": "{x} % 2 = 1"}, {"x": {"gt": 8}}]}},
        {"name": "even", "when": {"not": {"any": [{"sql": "{x} % 2 = 1"}, {"x": {"gt": 8}}]}}},
    ])
    out, check = apply_ruleset(xs, cfg)
    assert check.sizes == {"even": 0, "odd-or-big": 5}


def test_the_shipped_config_composes_and_every_rule_file_is_valid():
    from bigseg.config import compose
    from bigseg.segments.actions import check_playbook
    from bigseg.segments.conditions import pct_requests
    from bigseg.segments.rules import check_ruleset

    cfg = compose("pipeline").segments
    assert set(cfg.rules) <= set(cfg.rulesets)
    assert {"rfm", "value_tier", "ecommerce_tier", "lifecycle", "demographic", "geographic",
            "psychographic"} <= set(cfg.rulesets)
    for key, ruleset in cfg.rulesets.items():
        assert ruleset.name == key
        check_ruleset(ruleset)
        for seg in ruleset.segments:
            pct_requests(seg["when"], ruleset.name, seg["name"])
    check_playbook(cfg.playbook)
    rule_files = sorted(p.stem for p in RULES.glob("*.yaml"))
    assert rule_files == sorted(cfg.rulesets)
