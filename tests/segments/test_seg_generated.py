"""Issue #6's acceptance on generated data: the behavioural segments at the recommended k
recover the generator's planted segments, and each planted segment's profile shows its
planted trait among its top lifts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.sql import functions as F

from bigseg.config import compose
from bigseg.data.load import load_sources
from bigseg.evaluation.stability import ari_between
from bigseg.features.build import build_features
from bigseg.segments.pipeline import segment_customers

pytestmark = pytest.mark.slow

# The trait each planted segment was generated to stand out on (bigseg/data/segments.py):
# the feature, and whether its index is above (high) or below (low) the average.
TRAITS = {
    "loyal_high_frequency": ("frequency", "high"),
    "new_potential": ("tenure_days", "low"),
    "lapsed_churned": ("recency_days", "high"),
    "high_net_worth": ("aov", "high"),
    "price_seeker": ("discount_share", "high"),
    "omnichannel": ("n_sales_channels", "high"),
}


def test_recommended_k_recovers_the_generated_segments_and_their_traits(spark, tmp_path):
    cfg = compose("pipeline", [
        f"paths.root={tmp_path}", "source.synthetic.n_customers=1500",
        "source.synthetic.seed=3", "features.as_of=2026-01-01",
    ])
    sources = load_sources(spark, cfg.source)
    features = build_features(spark, sources.tables, cfg.features)
    # The sweep recommends k (behavioural.k is null); a narrower range than the default
    # keeps the test quick, and still leaves k free on both sides of the 6 planted.
    segments_cfg = replace(cfg.segments, sweep=replace(cfg.segments.sweep, k_min=3, k_max=9))
    run = segment_customers(features.df, segments_cfg)
    try:
        truth = sources.extras["ground_truth"].select(
            "customer_id", F.col("segment").alias("planted"))
        col = segments_cfg.behavioural.output_col
        pairs = run.df.select("customer_id", col).join(truth, "customer_id")
        ari = ari_between(pairs, col, "planted")
        assert run.behavioural.sweep is not None
        assert ari >= 0.8, (run.behavioural.k, ari, run.behavioural.sweep.table)

        # Each planted segment -> the recovered segment holding most of its customers.
        counts = pairs.groupBy("planted", col).count().toPandas()
        majority = counts.sort_values("count").groupby("planted").tail(1).set_index("planted")
        table = run.profiles.table
        for planted, (feature, direction) in TRAITS.items():
            segment = majority.loc[planted, col]
            row = table.loc[str(segment)]
            assert feature in row["top_features"], (planted, segment, row["top_features"])
            index = row[f"index_{feature}"]
            assert index > 100 if direction == "high" else index < 100, (planted, index)
    finally:
        run.unpersist()
        features.unpersist()
        sources.unpersist()
