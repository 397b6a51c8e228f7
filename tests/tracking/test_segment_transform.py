"""The pyfunc's numpy transform gives the vectors bigseg.features' Spark columns give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tracking_toys import RAW_COLUMNS, spark_features, toy_customers, toy_metadata

from bigseg.tracking.segment_transform import (
    assign_frame,
    input_columns,
    nearest,
    transform_frame,
)


def spark_vectors(spark, frame, metadata):
    rows = spark_features(spark, frame, metadata).orderBy("customer_id").collect()
    return np.array([r["features"] for r in rows], dtype=np.float32)


@pytest.mark.parametrize("use_pca", [False, True])
def test_numpy_transform_matches_spark(spark, use_pca):
    frame, _ = toy_customers(n=120)
    pca = None
    if use_pca:
        rng = np.random.default_rng(1)
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        pca = {"k": 2, "mean": [0.1, 0.05, -0.2, 0.0], "components": q[:, :2].T.tolist(),
               "explained_variance_ratio": [0.6, 0.3]}
    metadata = toy_metadata(pca)
    ours = transform_frame(frame[RAW_COLUMNS], metadata)
    theirs = spark_vectors(spark, frame, metadata)
    assert ours.dtype == np.float32 and ours.shape == (120, 2 if use_pca else 4)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_indicator_given_by_the_caller_is_used():
    frame, _ = toy_customers(n=40)
    metadata = toy_metadata()
    imputed = frame.assign(revenue_365d_missing=frame["revenue_365d"].isna().astype(float),
                           revenue_365d=frame["revenue_365d"].fillna(120.0))
    np.testing.assert_array_equal(transform_frame(imputed, metadata),
                                  transform_frame(frame, metadata))


def test_input_columns_are_the_raw_features():
    assert input_columns(toy_metadata()) == RAW_COLUMNS


def test_nearest_euclidean_and_cosine():
    C = np.array([[0.0, 0.0], [3.0, 4.0]])
    X = np.array([[0.1, 0.0], [3.0, 5.0]])
    idx, dist = nearest(X, C)
    assert idx.tolist() == [0, 1]
    np.testing.assert_allclose(dist, [0.1, 1.0])
    idx, dist = nearest(np.array([[0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]),
                        spherical=True)
    assert idx.tolist() == [1] and dist.tolist() == [0.0]


def test_assign_frame_returns_ids_names_distances_on_the_input_index():
    metadata = toy_metadata()
    frame = pd.DataFrame({"revenue_365d": [20.0, 3000.0], "orders_90d": [0.0, 12.0],
                          "email_open_rate": [0.05, 0.5]}, index=[10, 11])
    X = transform_frame(frame, metadata)
    out = assign_frame(frame, metadata, X[::-1], [7, 9], ["high", "low"])
    assert out.index.tolist() == [10, 11]
    assert out["segment_id"].tolist() == [9, 7]
    assert out["segment_name"].tolist() == ["low", "high"]
    np.testing.assert_allclose(out["distance"], 0.0, atol=1e-6)


@pytest.mark.parametrize("change,message", [
    (lambda f: f.drop(columns=["orders_90d"]), r"lacks feature columns \['orders_90d'\]"),
    (lambda f: f.assign(revenue_365d_missing=[np.nan, 0.0]),
     "'revenue_365d_missing' is missing at rows \\[0\\]"),
])
def test_bad_input_is_named(change, message):
    frame = pd.DataFrame({"revenue_365d": [1.0, 2.0], "orders_90d": [0.0, 1.0],
                          "email_open_rate": [0.1, 0.2]})
    with pytest.raises(ValueError, match=message):
        transform_frame(change(frame), toy_metadata())


def test_nearest_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"vectors of shape \(1, 3\) do not match"):
        nearest(np.zeros((1, 3)), np.zeros((2, 2)))
