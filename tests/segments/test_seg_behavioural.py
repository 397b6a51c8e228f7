"""Behavioural segments on planted data, chosen groups and weights, macro/micro ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from seg_planted import NOISE, TRAITS, planted_frame
from sklearn.metrics import adjusted_rand_score

from bigseg.config import BehaviouralConfig, ProfileConfig, SweepConfig
from bigseg.segments import assemble, behavioural_segments, fit_hierarchy, profile_segments


def test_recommended_k_recovers_planted_segments_and_profiles_show_their_traits(spark):
    df = planted_frame(spark)
    cfg = BehaviouralConfig(groups={"value": ["monetary"], "behaviour": ["recency_days",
                                                                        "discount_share"],
                                    "junk": ["noise"]},
                            group_weights={"junk": 0.0})
    result = behavioural_segments(df, cfg, SweepConfig(k_min=2, k_max=4, seeds=[0, 1],
                                                       max_iter=10, silhouette_sample=150))
    assert result.k == 3 and result.sweep.recommended_k == 3
    rows = result.df.select("customer_id", "truth", "segment").collect()
    truth, got = [r.truth for r in rows], [r.segment for r in rows]
    assert adjusted_rand_score(truth, got) >= 0.8
    profiles = profile_segments(result.df, "segment", ProfileConfig(
        features=list(NOISE), revenue_col="monetary", top_n=1, channel_prefix=""))
    majority = pd.DataFrame({"t": truth, "s": got}).groupby("s")["t"].agg(
        lambda s: s.mode()[0])
    for segment, planted in majority.items():
        row = profiles.table.loc[str(segment)]
        assert row["top_features"] == [TRAITS[planted]], (planted, row["top_features"])
        assert row[f"index_{TRAITS[planted]}"] > 150


def test_group_weights_scale_the_standardised_columns(spark):
    df = spark.createDataFrame([(1.0, 10.0), (3.0, 10.0)], "a double, b double")
    out, spec = assemble(df, {"g1": ["a"], "g2": ["b"]}, {"g1": 2.0})
    assert spec.means == (2.0, 10.0) and spec.stds == (1.0, 1.0)  # b constant: kept at 0
    vectors = [r.segment_features for r in out.orderBy("a").collect()]
    assert vectors == [[-2.0, 0.0], [2.0, 0.0]]


BAD_GROUPS = [
    ({}, {}, ValueError, "at least one group"),
    ({"g": []}, {}, ValueError, "group 'g' lists no columns"),
    ({"g": ["zz"]}, {}, ValueError, "column 'zz' is not in the table"),
    ({"g": ["s"]}, {}, TypeError, "column 's' has type string, not a number"),
    ({"g": ["a"], "h": ["a"]}, {}, ValueError, "'a' appears in two feature groups"),
    ({"g": ["a"]}, {"h": 1.0}, ValueError, r"names groups \['h'\] that are not in groups"),
    ({"g": ["a"]}, {"g": -1.0}, ValueError, r"group_weights\['g'\]=-1.0 should be >= 0"),
]


@pytest.mark.parametrize(("groups", "weights", "error", "match"), BAD_GROUPS)
def test_bad_feature_groups(spark, groups, weights, error, match):
    df = spark.createDataFrame([(1.0, "x")], "a double, s string")
    with pytest.raises(error, match=match):
        assemble(df, groups, weights)


def test_macro_and_micro_ids(spark):
    rng = np.random.default_rng(3)
    # Two far-apart groups of three blobs, and a third macro segment of only two points
    # (fewer rows than micro_k: it gets k=2).
    centres = [[0, 0], [0, 3], [3, 0], [100, 100], [100, 103], [103, 100]]
    truth = np.repeat(np.arange(6), 20)
    X = (np.asarray(centres, float)[truth] + 0.2 * rng.standard_normal((truth.size, 2)))
    X = np.vstack([X, [[-100, 50], [-101, 50]]])
    truth = np.r_[truth, 6, 7]
    table = pa.table({
        "customer_id": pa.array(np.arange(truth.size)),
        "truth": pa.array(truth),
        "features": pa.ListArray.from_arrays(
            pa.array(np.arange(0, X.size + 1, 2, dtype=np.int32)),
            pa.array(X.reshape(-1).astype(np.float32), pa.float32())),
    })
    df = spark.createDataFrame(table).coalesce(1)
    hier = fit_hierarchy(df, macro_k=3, micro_k=3, seed=1, max_iter=10)
    assert sorted(len(m.centroids) for m in hier.micro.values()) == [2, 3, 3]
    assert hier.n_micro == 8 and len(hier.segment_ids()) == 8
    rows = hier.transform(df).select("customer_id", "truth", "macro_segment", "micro_segment",
                                     "segment_id").collect()
    assert len(rows) == truth.size
    assert all(re.fullmatch(r"\d+\.\d+", r.segment_id) for r in rows)
    assert all(r.segment_id == f"{r.macro_segment}.{r.micro_segment}" for r in rows)
    assert {r.segment_id for r in rows} == set(hier.segment_ids())
    assert adjusted_rand_score([r.truth for r in rows], [r.segment_id for r in rows]) == 1.0
    # Macro segments are the three far-apart groups.
    assert adjusted_rand_score([min(r.truth // 3, 2) for r in rows],
                               [r.macro_segment for r in rows]) == 1.0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_micro_k(spark, bad):
    df = spark.createDataFrame([([0.0],)], "features array<float>").select(F.col("features"))
    with pytest.raises(ValueError, match=r"micro_k=.* should be an int >= 1"):
        fit_hierarchy(df, macro_k=1, micro_k=bad)


def test_behavioural_segments_with_a_fixed_k_and_micro_segments(spark):
    df = spark.createDataFrame([(f"c{i}", x) for i, x in enumerate([0.0, 0.2, 1.0, 50.0, 51.0,
                                                                     53.0])],
                               "customer_id string, x double").coalesce(1)
    result = behavioural_segments(df, BehaviouralConfig(groups={"g": ["x"]}, k=2, micro_k=2,
                                                        max_iter=5))
    rows = result.df.select("customer_id", "segment", "segment_id").collect()
    assert result.k == 2 and result.sweep is None and result.hierarchy.n_micro == 4
    assert len({r.segment for r in rows}) == 2
    assert all(r.segment_id.startswith(f"{r.segment}.") for r in rows)
    by_id = {r.customer_id: r.segment for r in rows}
    assert by_id["c0"] == by_id["c2"] != by_id["c3"] == by_id["c5"]
