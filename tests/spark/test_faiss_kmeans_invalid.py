"""Bad input to FaissKMeans: handleInvalid 'error' / 'skip', empty input, k above rows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_spark import assert_same_centroids, blobs, reference_fit
from pyspark.sql import functions as F

from bigseg.spark import FaissKMeans

NAN, INF = float("nan"), float("inf")
# (features, weight, reason) of the bad rows mixed into valid blobs.
BAD_ROWS = [
    (None, 1.0, "null"),
    (None, 1.0, "null"),
    ([1.0, 2.0], 1.0, "wrong_length"),
    ([], 1.0, "wrong_length"),
    ([NAN, 0.0, 0.0], 1.0, "non_finite"),
    ([0.0, INF, 0.0], 1.0, "non_finite"),
    ([0.0, None, 0.0], 1.0, "non_finite"),
    ([1.0, 1.0, 1.0], -1.0, "bad_weight"),
    ([1.0, 1.0, 1.0], None, "bad_weight"),
]
N_VALID = 300


@pytest.fixture
def dirty(spark):
    X, _ = blobs(n=N_VALID, d=3, centers=3, seed=8)
    w = np.random.default_rng(1).uniform(0.5, 2.0, N_VALID)
    rows = [
        (i, [float(v) for v in x], float(wi)) for i, (x, wi) in enumerate(zip(X, w, strict=True))
    ]
    rows += [(N_VALID + j, f, wt) for j, (f, wt, _) in enumerate(BAD_ROWS)]
    df = spark.createDataFrame(rows, "id long, features array<double>, w double").repartition(2)
    return df, X, w


@pytest.mark.parametrize("mode", ["barrier", "jobs"])
def test_error_names_the_column_the_counts_and_an_example(dirty, mode):
    df, _, _ = dirty
    with pytest.raises(ValueError) as info:
        FaissKMeans(k=3, weightCol="w", trainingMode=mode).fit(df)
    msg = str(info.value)
    assert "featuresCol 'features' / weightCol 'w'" in msg
    assert f"9 invalid row(s) of {N_VALID + 9}" in msg
    for text in ("2 null", "2 wrong length", "3 non finite", "2 bad weight"):
        assert text in msg
    assert "Example: Row(id=" in msg and "handleInvalid='skip'" in msg


def test_skip_drops_and_counts_them_and_fits_the_valid_rows(dirty):
    df, X, w = dirty
    model = FaissKMeans(k=3, seed=2, weightCol="w", handleInvalid="skip").fit(df)
    s = model.summary
    assert s.rowsSkipped == 9 and s.numRows == N_VALID
    assert s.invalidRows == {"null": 2, "wrong_length": 2, "non_finite": 3, "bad_weight": 2}
    assert_same_centroids(model.centroids, reference_fit(X, 3, seed=2, w=w).centroids)
    # The jobs mode classifies with Spark SQL instead of numpy: same counts, same fit.
    jobs = FaissKMeans(k=3, seed=2, weightCol="w", handleInvalid="skip", trainingMode="jobs")
    jobs_model = jobs.fit(df)
    assert jobs_model.summary.invalidRows == s.invalidRows
    assert_same_centroids(jobs_model.centroids, model.centroids)
    # transform keeps every row: bad vectors get a null prediction (bad weights do not matter).
    out = model.transform(df).orderBy("id").collect()
    assert len(out) == N_VALID + 9
    nulls = [r.id - N_VALID for r in out if r.prediction is None]
    assert nulls == [j for j, (_, _, why) in enumerate(BAD_ROWS) if why != "bad_weight"]
    assert all(r.distance is None for r in out if r.prediction is None)
    with pytest.raises(Exception, match="featuresCol 'features': .*invalid row"):
        model.setHandleInvalid("error").transform(df).collect()
    # An array<float> column is read as it is (no staged copy): same nulls, same labels,
    # the same columns out, and the same error.
    floats = df.withColumn("features", F.col("features").cast("array<float>"))
    model.setHandleInvalid("skip")
    out32 = model.transform(floats).orderBy("id").collect()
    assert [r.prediction for r in out32] == [r.prediction for r in out]
    assert model.transform(floats).columns == model.transform(df).columns
    with pytest.raises(Exception, match="featuresCol 'features': .*invalid row"):
        model.setHandleInvalid("error").transform(floats).collect()


def test_zero_vector_with_cosine(spark):
    df = spark.createDataFrame(
        [([1.0, 0.0],), ([0.0, 1.0],), ([0.0, 0.0],)], "features array<float>"
    )
    with pytest.raises(ValueError, match=r"1 invalid row\(s\) of 3 \(1 zero vector"):
        FaissKMeans(k=2, distanceMeasure="cosine").fit(df)


@pytest.mark.parametrize(
    "rows, k, handle, error, match",
    [
        ([], 2, "error", ValueError, "empty DataFrame"),
        (
            [([1.0],), ([2.0],), ([3.0],)],
            5,
            "error",
            ValueError,
            "k=5 is larger than the number of valid rows 3",
        ),
        (
            [([1.0],), ([2.0],), (None,)],
            3,
            "skip",
            ValueError,
            r"valid rows 2 \(1 invalid rows skipped of 3\)",
        ),
        ([(None,), (None,)], 1, "skip", ValueError, "has no non-empty vector"),
    ],
)
def test_degenerate_input(spark, rows, k, handle, error, match):
    df = spark.createDataFrame(rows, "features array<double>")
    with pytest.raises(error, match=match):
        FaissKMeans(k=k, handleInvalid=handle).fit(df)


def test_wrong_column_type_or_name(spark):
    df = spark.createDataFrame([("a",)], "features string")
    with pytest.raises(TypeError, match="must be a vector .* got string"):
        FaissKMeans(k=1).fit(df)
    with pytest.raises(ValueError, match="featuresCol 'vec' is not a column"):
        FaissKMeans(k=1, featuresCol="vec").fit(df)
