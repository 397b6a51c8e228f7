"""RFM scores from approximate quantiles."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from bigseg.features.value import cut_probabilities, rfm_cell, score


def _by_hand(value, cuts, reverse):
    return 1 + sum((value < c) if reverse else (value > c) for c in cuts)


def test_scores_follow_the_fitted_cut_points(shop_build):
    fs, rows = shop_build
    cuts = fs.metadata.rfm_cuts
    # 4 purchasers: recency 1, 19, 61, 173 days; frequency 5, 2, 1, 1; monetary 210, 100, 200, 40
    assert cuts["r"] == [1.0, 19.0, 61.0, 173.0]
    assert cuts["f"] == [1.0, 1.0, 2.0, 5.0]
    for cid in ("C1", "C2", "C3", "C9"):
        row = rows[cid]
        expected = (_by_hand(row["recency_days"], cuts["r"], True),
                    _by_hand(row["frequency"], cuts["f"], False),
                    _by_hand(row["monetary"], cuts["m"], False))
        assert (row["r_score"], row["f_score"], row["m_score"]) == expected, cid
        assert row["rfm_cell"] == "".join(str(int(s)) for s in expected)
    assert (rows["C4"]["r_score"], rows["C4"]["f_score"], rows["C4"]["m_score"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("value", "reverse", "expected"),
    [(5.0, False, 1), (10.0, False, 1), (10.5, False, 2), (99.0, False, 5),
     (5.0, True, 5), (35.0, True, 2), (99.0, True, 1)],
)
def test_score_counts_cut_points_passed(spark, value, reverse, expected):
    df = spark.createDataFrame([(value,)], "v double")
    cuts = [10.0, 20.0, 30.0, 40.0]
    assert df.select(score(F.col("v"), cuts, reverse)).first()[0] == expected


def test_rfm_cell(spark):
    df = spark.createDataFrame([(5.0, 1.0, 3.0)], "r double, f double, m double")
    assert df.select(rfm_cell(F.col("r"), F.col("f"), F.col("m"))).first()[0] == "513"


@pytest.mark.parametrize(("bins", "expected"), [(2, [0.5]), (5, [0.2, 0.4, 0.6, 0.8])])
def test_cut_probabilities(bins, expected):
    assert cut_probabilities(bins) == pytest.approx(expected)


def test_cut_probabilities_rejects_one_bin():
    with pytest.raises(ValueError, match="rfm_bins=1 should be >= 2"):
        cut_probabilities(1)
