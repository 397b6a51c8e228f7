"""The k sweep on clearly separated blobs: planted k recovered, metrics match scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score

from bigseg.evaluation import (
    adjusted_rand_index,
    ari_between,
    cluster_moments,
    quality,
    recommend_k,
    sweep_k,
)


def blob_frame(spark, centres, n_per=60, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype=np.float64)
    labels = np.repeat(np.arange(len(centres)), n_per)
    X = (centres[labels] + spread * rng.standard_normal((labels.size, centres.shape[1])))
    X = X.astype(np.float32)
    d = X.shape[1]
    offsets = pa.array(np.arange(0, X.size + 1, d, dtype=np.int32))
    table = pa.table({
        "customer_id": pa.array(np.arange(labels.size, dtype=np.int64)),
        "truth": pa.array(labels.astype(np.int32)),
        "features": pa.ListArray.from_arrays(offsets, pa.array(X.reshape(-1), pa.float32())),
    })
    # One partition: one barrier task per fit keeps the sweep quick on a shared machine.
    return spark.createDataFrame(table).coalesce(1), X, labels


SQUARE = [[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]]


def test_sweep_recovers_the_planted_k_and_reports_every_metric(spark):
    df, X, truth = blob_frame(spark, SQUARE)
    result = sweep_k(df, ks=[3, 4, 5], seeds=[0, 1], max_iter=10,
                     silhouette_sample_size=150)
    table = result.table.set_index("k")
    assert list(table.index) == [3, 4, 5]
    assert result.recommended_k == 4
    assert "adjusted Rand index between seeds is >= 0.8" in result.rule
    assert table.loc[4, "stability_ari"] == pytest.approx(1.0)
    assert table.loc[4, "silhouette"] > 0.8 > table.loc[3, "silhouette"]
    assert table["inertia"].is_monotonic_decreasing
    assert table["calinski_harabasz"].idxmax() == 4 and table["davies_bouldin"].idxmin() == 4
    # The best model at k=4 against scikit-learn's metrics on its own labels.
    labels = np.array([result.model.predict(x) for x in X])
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)
    assert table.loc[4, "calinski_harabasz"] == pytest.approx(
        calinski_harabasz_score(X, labels), rel=1e-4)
    assert table.loc[4, "davies_bouldin"] == pytest.approx(
        davies_bouldin_score(X, labels), rel=1e-3)


def test_moments_give_sklearn_quality_on_a_hand_labelled_frame(spark):
    X = np.array([[0, 0], [0, 2], [4, 0], [4, 2], [10, 10]], dtype=np.float64)
    labels = [0, 0, 1, 1, 2]
    centres = np.array([[0, 1], [4, 1], [10, 10]])
    dist = np.linalg.norm(X - centres[labels], axis=1)
    df = spark.createDataFrame(
        [(x.tolist(), lab, float(dd)) for x, lab, dd in zip(X, labels, dist, strict=True)],
        "features array<double>, prediction int, distance double")
    q = quality(cluster_moments(df, 2))
    assert q["inertia"] == pytest.approx(4.0)  # four points at distance 1
    assert q["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, labels))
    assert q["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels))


def test_ari_from_spark_counts_matches_sklearn(spark):
    a = [0, 0, 1, 1, 2, 2, 2]
    b = [1, 1, 0, 0, 0, 2, 2]
    df = spark.createDataFrame(list(zip(a, b, strict=True)), "a int, b int")
    assert ari_between(df, "a", "b") == pytest.approx(adjusted_rand_score(a, b))
    assert adjusted_rand_index(np.array([[5]])) == 1.0


def _table(rows):
    return pd.DataFrame(rows, columns=["k", "silhouette", "stability_ari"])


RECOMMEND = [
    # rows (k, silhouette, stability), expected k, text in the rule
    ([(2, 0.5, 1.0), (3, 0.7, 0.95), (4, 0.9, 0.5)], 3, ">= 0.8"),
    ([(2, 0.695, 1.0), (3, 0.7, 0.95)], 2, "smallest tied k"),
    ([(2, 0.5, 0.1), (3, 0.7, 0.2)], 3, "no k reached the stability bound"),
    ([(2, float("nan"), 1.0)], 2, "no k has a silhouette"),
]


@pytest.mark.parametrize(("rows", "k", "text"), RECOMMEND)
def test_recommendation_rule(rows, k, text):
    got, rule = recommend_k(_table(rows))
    assert got == k and text in rule


BAD = [
    ({"ks": []}, "ks=\\[\\] should not be empty"),
    ({"ks": [1, 2]}, "should all be >= 2"),
    ({"ks": [2, 2]}, "should be distinct"),
    ({"ks": [2], "seeds": []}, "at least one seed"),
    ({"ks": [2], "silhouette_sample_size": 1}, "silhouette_sample=1 should be >= 2"),
    ({"ks": [2], "min_stability": 2.0}, "min_stability=2.0 should be within"),
    ({"ks": [400]}, "the largest k should be < the 240 rows"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD)
def test_bad_sweep_parameters(spark, kwargs, match):
    df, _, _ = blob_frame(spark, SQUARE)
    with pytest.raises(ValueError, match=match):
        sweep_k(df, **kwargs)
