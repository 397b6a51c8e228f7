"""The shipped RFM rule file on hand-built rows: every (r, fm) cell of the 5 x 5 grid."""

from __future__ import annotations

from pathlib import Path

from bigseg.segments.rules import apply_ruleset, load_ruleset

RULES = Path(__file__).resolve().parents[2] / "bigseg" / "conf" / "segments" / "rules"

# The grid written out by hand (rows r = 5..1, columns fm = 1..5), as marketers know it.
GRID = {
    5: ["New", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal", "Loyal"],
    3: ["About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"],
    2: ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
    1: ["Lost", "Lost", "At Risk", "At Risk", "Can't Lose Them"],
}


def test_every_cell_of_the_grid_gets_its_named_segment(spark):
    rows, expected = [], {}
    for r, names in GRID.items():
        for fm, name in enumerate(names, start=1):
            cid = f"c{r}{fm}"
            rows.append((cid, float(r), float(fm), float(fm)))
            expected[cid] = name
    # F and M disagree: fm is their mean rounded half up.
    rows += [("mix1", 5.0, 5.0, 2.0), ("mix2", 5.0, 1.0, 2.0), ("mix3", 1.0, 4.0, 5.0)]
    expected.update({"mix1": "Champions", "mix2": "Potential Loyalists",
                     "mix3": "Can't Lose Them"})
    df = spark.createDataFrame(rows, "customer_id string, r_score double, f_score double, "
                                     "m_score double")
    out, check = apply_ruleset(df, load_ruleset(RULES / "rfm.yaml"))
    got = {r.customer_id: r.segment_rfm for r in out.collect()}
    assert got == expected
    assert check.is_partition and check.n_rows == 28
    assert check.sizes["Champions"] == 3 and check.sizes["Loyal"] == 4
    assert sum(check.sizes.values()) == 28 and len(check.sizes) == 11


def test_rfm_inputs_follow_the_rule_file_not_the_feature_table(spark):
    cfg = load_ruleset(RULES / "rfm.yaml")
    cfg.inputs = {"r": "R", "fm": "FM"}
    df = spark.createDataFrame([("a", 5, 5), ("b", 1, 1)], "customer_id string, R int, FM int")
    out, _ = apply_ruleset(df, cfg)
    assert {r.customer_id: r.segment_rfm for r in out.collect()} == {"a": "Champions",
                                                                      "b": "Lost"}
