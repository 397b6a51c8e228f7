"""RFM scores: recency, frequency and monetary quintiles (or any number of bins).

Cut points are approximate quantiles (Spark's ``percentile_approx``) over the customers
with at least one purchase, fitted once and stored in the feature metadata so that new
customers are scored against the same cut points. Scores run 1 (worst) to ``bins``
(best); a recent purchase scores high, so recency is scored in reverse. A customer
without purchases scores 1 on all three (and carries the ``no_purchase`` indicator).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.features.spec import FeatureDef

# Raw feature columns the scores read (see bigseg.features.behaviour).
RFM_SOURCES = {"r": "recency_days", "f": "frequency", "m": "monetary"}


def cut_probabilities(bins: int) -> list[float]:
    """Interior quantile levels: bins=5 -> [0.2, 0.4, 0.6, 0.8]."""
    if bins < 2:
        raise ValueError(f"rfm_bins={bins} should be >= 2")
    return [i / bins for i in range(1, bins)]


def cut_point_aggs(has_purchase: Column, bins: int, accuracy: int) -> list[Column]:
    """Aggregates for :func:`cut_points` (run them with others in one pass)."""
    probs = cut_probabilities(bins)
    return [
        F.percentile_approx(F.when(has_purchase, F.col(src).cast("double")), probs, accuracy)
        .alias(f"rfm:{key}")
        for key, src in RFM_SOURCES.items()
    ]


def cut_points(row: dict, bins: int) -> dict[str, list[float]]:
    """Cut points per score from the :func:`cut_point_aggs` results in ``row``."""
    n_cuts = len(cut_probabilities(bins))
    # No purchaser at all: every customer scores 1, whatever the cut points.
    return {key: [float(v) for v in (row[f"rfm:{key}"] or [0.0] * n_cuts)]
            for key in RFM_SOURCES}


def fit_cut_points(
    raw: DataFrame, has_purchase: Column, bins: int, accuracy: int
) -> dict[str, list[float]]:
    """Cut points per score from one aggregation over the customers with a purchase."""
    row = raw.agg(*cut_point_aggs(has_purchase, bins, accuracy)).first().asDict()
    return cut_points(row, bins)


def score(value: Column, cuts: Sequence[float], reverse: bool = False) -> Column:
    """1 + the number of cut points ``value`` is beyond (below them when ``reverse``)."""
    beyond = [(value < c) if reverse else (value > c) for c in cuts]
    return sum((F.when(b, 1).otherwise(0) for b in beyond), F.lit(1)).cast("double")


def rfm_features(cuts: dict[str, list[float]], has_purchase: Column) -> list[FeatureDef]:
    """r_score, f_score, m_score over the raw recency/frequency/monetary columns."""
    feats = []
    for key, src in RFM_SOURCES.items():
        scored = score(F.col(src), cuts[key], reverse=(key == "r"))
        feats.append(FeatureDef(
            f"{key}_score", "value", F.when(has_purchase, scored).otherwise(F.lit(1.0)),
            doc=f"RFM {src} score, 1-{len(cuts[key]) + 1} (approximate quantiles).",
        ))
    return feats


def rfm_cell(r: Column, f: Column, m: Column) -> Column:
    """The classic three-digit RFM cell, e.g. "545" (a label, not a vector feature)."""
    return F.concat(*[c.cast("int").cast("string") for c in (r, f, m)])
