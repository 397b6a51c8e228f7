"""FaissKMeans / FaissKMeansModel on a real local[2] Spark session with real FAISS."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest
from helpers_spark import assert_same_centroids, blobs, frame, reference_fit, sorted_rows
from pyspark.ml.linalg import Vectors

from bigseg.spark import FaissKMeans, FaissKMeansModel

TOY = [
    [-0.1, -0.05],
    [-0.01, -0.1],
    [0.9, 0.8],
    [0.75, 0.935],
    [-0.83, -0.68],
    [-0.91, -0.76],
]
TOY_CENTRES = [[-0.87, -0.72], [-0.055, -0.075], [0.825, 0.8675]]
# Each pair's squared distances to its mean: 2 * (0.045^2 + 0.025^2), ...
TOY_COST = 2 * (0.045**2 + 0.025**2) + 2 * (0.075**2 + 0.0675**2) + 2 * (0.04**2 + 0.04**2)


@pytest.fixture
def toy(spark):
    rows = [(i, Vectors.dense(v)) for i, v in enumerate(TOY)]
    return spark.createDataFrame(rows, ["id", "features"]).coalesce(1).sortWithinPartitions("id")


def test_toy_exact_centres_cost_and_summary(toy, caplog):
    with caplog.at_level(logging.INFO, logger="bigseg.spark"):
        model = FaissKMeans(k=3, seed=1).fit(toy)
    logged = caplog.text
    assert "barrier iteration 1: objective" in logged and "barrier stage: 1 tasks" in logged
    np.testing.assert_allclose(sorted_rows(model.clusterCenters()), TOY_CENTRES, atol=1e-6)
    s = model.summary
    assert s.trainingCost == pytest.approx(TOY_COST, rel=1e-5)
    assert sorted(s.clusterSizes) == [2, 2, 2]
    assert s.numIter == len(s.history) and s.converged
    assert s.history[-1]["centroid_shift"] == 0.0
    assert s.rowsSkipped == 0 and s.numRows == 6 and s.trainingMode == "barrier"
    out = model.transform(toy).orderBy("id").collect()
    assert [r.prediction for r in out][::2] == [r.prediction for r in out][1::2]  # pairs
    assert len({r.prediction for r in out}) == 3
    centres = model.clusterCenters()
    for r in out:
        want = np.linalg.norm(np.asarray(r.features) - centres[r.prediction])
        assert r.distance == pytest.approx(want, rel=1e-5)
        assert model.predict(r.features) == r.prediction


def test_an_empty_partition_takes_part(spark):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(v,) for v in TOY], "features array<double>")
    one_sided = df.repartition(2, F.lit(1))  # every row in one partition, the other empty
    model = FaissKMeans(k=3, seed=1, numWorkers=2).fit(one_sided)
    assert sorted(model.summary.shardRows) == [0, 6]
    np.testing.assert_allclose(sorted_rows(model.centroids), TOY_CENTRES, atol=1e-6)


def test_agrees_with_the_core_on_blobs(spark):
    X, _ = blobs()
    model = FaissKMeans(k=6, seed=3, maxIter=30).fit(frame(spark, X, partitions=2))
    ref = reference_fit(X, 6, seed=3, max_iter=30)
    assert_same_centroids(model.centroids, ref.centroids)
    assert model.summary.trainingCost == pytest.approx(ref.inertia, rel=1e-5)
    assert model.summary.numIter == ref.n_iter
    assert model.summary.clusterSizes == [int(c) for c in ref.cluster_sizes]


def test_random_init_and_hnsw_assignment_match_the_core(spark):
    X, _ = blobs(n=1500, d=4, centers=5, seed=12)
    km = FaissKMeans(k=5, seed=9, initMode="random", assignment="hnsw", maxIter=8)
    model = km.fit(frame(spark, X, partitions=2))
    ref = reference_fit(X, 5, seed=9, init_mode="random", assignment="hnsw", max_iter=8)
    assert_same_centroids(model.centroids, ref.centroids)
    assert all(0.0 <= h["recall"] <= 1.0 for h in model.summary.history)


def test_same_centroids_for_1_2_7_partitions_input_types_and_jobs_mode(spark):
    """1 partition of vectors, 2 of array<double>, 7 of array<float>, and jobs mode."""
    X, _ = blobs(n=2500, d=5, centers=5, seed=11)
    vectors = spark.createDataFrame(
        [(i, Vectors.dense(x.astype(np.float64))) for i, x in enumerate(X)], ["id", "features"]
    ).coalesce(1)
    inputs = {
        1: vectors,
        2: frame(spark, X, partitions=2, element=pa.float64()),
        7: frame(spark, X, partitions=7),
    }
    fits = {p: FaissKMeans(k=5, seed=7).fit(df) for p, df in inputs.items()}
    assert fits[1].summary.numWorkers == 1 and fits[7].summary.numWorkers == 2
    assert fits[2].summary.shardRows == [1250, 1250]
    for p in (2, 7):
        assert_same_centroids(fits[p].centroids, fits[1].centroids)
    jobs = FaissKMeans(k=5, seed=7, trainingMode="jobs").fit(inputs[7])
    assert jobs.summary.trainingMode == "jobs"
    assert_same_centroids(jobs.centroids, fits[1].centroids)
    assert jobs.summary.numIter == fits[1].summary.numIter
    assert jobs.summary.trainingCost == pytest.approx(fits[1].summary.trainingCost, rel=1e-6)
    assert jobs.summary.clusterSizes == fits[1].summary.clusterSizes
    assert [h["objective"] for h in jobs.summary.history] == pytest.approx(
        [h["objective"] for h in fits[1].summary.history], rel=1e-6
    )


def test_weights(spark):
    from bigseg.kmeans.lloyd import lloyd

    X, _ = blobs(n=800, d=4, centers=4, seed=9)
    # Weights of 1 are no weights.
    ones = FaissKMeans(k=4, seed=1, weightCol="w").fit(
        frame(spark, X, w=np.ones(len(X)), partitions=2)
    )
    assert_same_centroids(ones.centroids, reference_fit(X, 4, seed=1).centroids)
    # Integer weights are duplicated rows (from the same initial centroids).
    w = np.random.default_rng(0).integers(1, 4, size=len(X)).astype(np.float64)
    start = ones.centroids + 0.5
    weighted = FaissKMeans(k=4, weightCol="w", initialModel=start).fit(
        frame(spark, X, w=w, partitions=2)
    )
    dup = lloyd(np.repeat(X, w.astype(int), axis=0), start, max_iter=20, tol=1e-4)
    assert_same_centroids(weighted.centroids, dup.centroids)
    assert weighted.summary.trainingCost == pytest.approx(dup.inertia, rel=1e-5)
    assert weighted.summary.clusterWeights == pytest.approx(dup.cluster_sizes)
    assert sum(weighted.summary.clusterSizes) == len(X)


def test_cosine_clusters_by_direction(spark):
    rng = np.random.default_rng(4)
    angles = np.concatenate([rng.normal(0.3, 0.05, 200), rng.normal(1.3, 0.05, 200)])
    radii = rng.uniform(0.5, 20, 400)
    X = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1).astype(np.float32)
    model = FaissKMeans(k=2, seed=0, distanceMeasure="cosine").fit(frame(spark, X, partitions=2))
    np.testing.assert_allclose(np.linalg.norm(model.centroids, axis=1), 1.0, atol=1e-6)
    got_angles = sorted(np.arctan2(model.centroids[:, 1], model.centroids[:, 0]))
    np.testing.assert_allclose(got_angles, [0.3, 1.3], atol=0.02)
    ref = reference_fit(X, 2, spherical=True)
    assert_same_centroids(model.centroids, ref.centroids)
    out = model.transform(frame(spark, X)).orderBy("id").toPandas()
    assert out.prediction[:200].nunique() == 1 and out.prediction[200:].nunique() == 1
    c = model.centroids[out.prediction.to_numpy()]
    cos = np.einsum("ij,ij->i", X, c) / np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(out.distance, 1 - cos, atol=1e-5)


def test_warm_start_from_converged_centroids(spark):
    X, _ = blobs(n=500, d=3, centers=3, seed=1)
    ref = reference_fit(X, 3)
    model = FaissKMeans(k=3, maxIter=5).setInitialModel(ref.centroids).fit(frame(spark, X))
    assert_same_centroids(model.centroids, ref.centroids)
    assert model.summary.numIter == 1
    with pytest.raises(ValueError, match="initialModel has 3 centroids but k=4"):
        FaissKMeans(k=4, initialModel=model).fit(frame(spark, X))


def test_save_load_round_trip_predicts_the_same(spark, toy, tmp_path):
    model = FaissKMeans(k=3, seed=1, predictionCol="segment").fit(toy)
    path = str(tmp_path / "model")
    model.save(path)
    other = spark.newSession()  # a fresh session on the same JVM
    loaded = FaissKMeansModel.read().session(other).load(path)
    np.testing.assert_array_equal(loaded.centroids, model.centroids)
    assert loaded.uid == model.uid and loaded.getPredictionCol() == "segment"
    assert loaded.getK() == 3 and loaded.getSeed() == 1
    assert loaded.getInitialModel() is None
    assert not loaded.hasSummary
    with pytest.raises(RuntimeError, match="No training summary"):
        _ = loaded.summary
    before = [r.segment for r in model.transform(toy).orderBy("id").collect()]
    toy_other = other.createDataFrame(
        [(i, Vectors.dense(v)) for i, v in enumerate(TOY)], ["id", "features"]
    )
    after = [r.segment for r in loaded.transform(toy_other).orderBy("id").collect()]
    assert before == after
    model.write().overwrite().save(path)  # overwrite works
    est = FaissKMeans(k=3, initialModel=model, numWorkers=1, handleInvalid="skip")
    est.save(str(tmp_path / "est"))
    est2 = FaissKMeans.load(str(tmp_path / "est"))
    assert est2.getInitialModel() == est.getInitialModel()
    assert est2.getNumWorkers() == 1 and est2.getHandleInvalid() == "skip"


def test_pipeline_fit_transform_save_load(spark, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import VectorAssembler

    X, _ = blobs(n=400, d=3, centers=3, seed=2)
    df = spark.createDataFrame(
        [(i, *map(float, x)) for i, x in enumerate(X)], ["id", "a", "b", "c"]
    )
    pipe = Pipeline(
        stages=[
            VectorAssembler(inputCols=["a", "b", "c"], outputCol="vec"),
            FaissKMeans(k=3, seed=0, featuresCol="vec", predictionCol="seg", distanceCol=""),
        ]
    )
    fitted = pipe.fit(df)
    out = fitted.transform(df)
    assert out.columns == ["id", "a", "b", "c", "vec", "seg"]
    fitted.save(str(tmp_path / "pipe"))
    loaded = PipelineModel.load(str(tmp_path / "pipe"))
    assert isinstance(loaded.stages[1], FaissKMeansModel)
    a = [r.seg for r in out.orderBy("id").collect()]
    b = [r.seg for r in loaded.transform(df).orderBy("id").collect()]
    assert a == b and len(set(a)) == 3


def test_too_many_workers_for_the_slots_fails_fast(spark):
    df = frame(spark, blobs(n=50, d=2, centers=2)[0])
    with pytest.raises(ValueError, match=r"needs 3 training tasks.*only 2 free task slots"):
        FaissKMeans(k=2, numWorkers=3).fit(df)


def test_a_failed_task_reruns_the_barrier_stage(spark, tmp_path):
    X, _ = blobs(n=400, d=3, centers=3, seed=6)
    df = frame(spark, X, partitions=2)
    km = FaissKMeans(k=3, seed=4)
    km._fail_once_marker = str(tmp_path / "failed-once")
    model = km.fit(df)
    assert (tmp_path / "failed-once").exists()  # the first attempt did fail
    assert_same_centroids(model.centroids, reference_fit(X, 3, seed=4).centroids)


def test_params_defaults_and_mapping_are_pinned():
    from bigseg.kmeans.assign import ASSIGNMENTS, BACKENDS
    from bigseg.spark import params

    km = FaissKMeans()
    assert {p.name: km.getOrDefault(p) for p in km.params if km.hasDefault(p)} == {
        "k": 2,
        "maxIter": 20,
        "tol": 1e-4,
        "seed": 0,
        "initMode": "k-means||",
        "initSteps": 2,
        "distanceMeasure": "euclidean",
        "assignment": "auto",
        "backend": "auto",
        "backendFallback": "cpu",
        "distanceCol": "distance",
        "handleInvalid": "error",
        "trainingMode": "auto",
        "featuresCol": "features",
        "predictionCol": "prediction",
    }
    assert params.ASSIGNMENTS == ASSIGNMENTS and params.BACKENDS == BACKENDS
    assert params.PARAM_MAPPING["initSteps"] is None  # accepted, ignored
    assert FaissKMeans(k=5).setMaxIter(3).setTol(0.0).getMaxIter() == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be an int >= 1"),
        ({"distanceMeasure": "manhattan"}, "distanceMeasure must be one of"),
        ({"initMode": "best"}, "initMode must be one of"),
        ({"handleInvalid": "keep"}, "handleInvalid must be one of"),
        ({"tol": -1.0}, "tol must be a finite float >= 0"),
        ({"maxIter": 0}, "maxIter must be an int >= 1"),
        ({"numWorkers": 0}, "numWorkers must be an int >= 1"),
        ({"initialModel": [1.0, 2.0]}, r"initialModel must be a \(k, d\) array"),
    ],
)
def test_bad_params_fail_when_set(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FaissKMeans(**kwargs)


def test_driver_needs_no_native_imports():
    import subprocess
    import sys

    code = (
        "import sys; from bigseg.spark import FaissKMeans; FaissKMeans(k=3).setSeed(1); "
        "bad = [m for m in ('faiss', 'bigseg.kmeans', 'torch') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
