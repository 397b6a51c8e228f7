"""FaissKMeans.fitMultiple: many (k, seed) fits in one barrier stage, equal to single fits."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from helpers_spark import blobs, frame

from bigseg.spark import FaissKMeans


@pytest.fixture
def data(spark):
    # Overlapping blobs: several iterations, and each seed lands somewhere else.
    X, _ = blobs(n=600, d=4, centers=5, seed=3, spread=4.0)
    return frame(spark, X, partitions=2)


def grid(km):
    return [{km.k: k, km.seed: seed} for k in (3, 5) for seed in (0, 1)]


def same_fit(a, b):
    np.testing.assert_array_equal(a.centroids, b.centroids)
    sa, sb = a.summary, b.summary
    assert sa.numIter == sb.numIter
    assert sa.trainingCost == sb.trainingCost
    assert sa.clusterSizes == sb.clusterSizes and sa.clusterWeights == sb.clusterWeights
    assert sa.converged == sb.converged and sa.numRows == sb.numRows
    assert untimed(sa.history) == untimed(sb.history)


def untimed(history):
    """The history without its wall times (every other value must match exactly)."""
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in history]


def test_one_stage_equals_separate_fits_bit_for_bit(data, caplog):
    km = FaissKMeans(maxIter=8)
    maps = grid(km)
    with caplog.at_level(logging.INFO, logger="bigseg.spark"):
        fitted = dict(km.fitMultiple(data, maps))
    assert "4 fits (k=[3, 3, 5, 5]) in one barrier stage" in caplog.text
    assert caplog.text.count("FaissKMeans barrier stage:") == 1
    assert sorted(fitted) == [0, 1, 2, 3]
    for i, m in enumerate(maps):
        model = fitted[i]
        assert model.getK() == m[km.k] and model.getSeed() == m[km.seed]
        assert model.summary.k == m[km.k] and model.summary.trainingMode == "barrier"
        assert model.summary.trainingSeconds > 0
        same_fit(model, km.fit(data, m))
    # the seeds do differ, so the equality above is not vacuous
    assert not np.array_equal(fitted[0].centroids, fitted[1].centroids)


def test_indices_cover_every_map_across_threads(data):
    km = FaissKMeans(k=2, maxIter=5)
    maps = [{km.seed: s} for s in range(3)] + [{km.k: 4, km.predictionCol: "seg"}]
    it = km.fitMultiple(data, maps)
    got: list[tuple[int, object]] = []

    def drain():
        got.extend(it)

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i for i, _ in got) == [0, 1, 2, 3]
    models = dict(got)
    assert models[3].getK() == 4 and models[3].getPredictionCol() == "seg"
    assert "seg" in models[3].transform(data).columns
    assert models[0].getPredictionCol() == "prediction"


def test_a_map_changing_another_param_falls_back_to_one_fit_each(spark, caplog):
    X, _ = blobs(n=300, d=3, centers=3, seed=5)
    df = frame(spark, X, partitions=2).withColumnRenamed("features", "vec")
    df = df.withColumn("features", df["vec"])
    km = FaissKMeans(k=3, maxIter=6)
    maps = [{km.seed: 0}, {km.featuresCol: "vec", km.seed: 1}]
    with caplog.at_level(logging.INFO, logger="bigseg.spark"):
        fitted = dict(km.fitMultiple(df, maps))
    assert "one fit per param map (paramMaps[1] sets 'featuresCol'" in caplog.text
    assert fitted[1].getFeaturesCol() == "vec"
    for i, m in enumerate(maps):
        same_fit(fitted[i], km.fit(df, m))


def test_jobs_mode_falls_back(data, caplog):
    km = FaissKMeans(k=3, maxIter=5, trainingMode="jobs")
    maps = [{km.seed: 0}, {km.seed: 1}]
    with caplog.at_level(logging.INFO, logger="bigseg.spark"):
        fitted = dict(km.fitMultiple(data, maps))
    assert "one fit per param map (training runs in jobs mode)" in caplog.text
    assert fitted[1].summary.trainingMode == "jobs"
    np.testing.assert_array_equal(fitted[1].centroids, km.fit(data, maps[1]).centroids)


def test_a_failed_task_reruns_the_stage_for_every_map(spark, tmp_path):
    X, _ = blobs(n=400, d=3, centers=3, seed=6)
    df = frame(spark, X, partitions=2)
    km = FaissKMeans(maxIter=6)
    km._fail_once_marker = str(tmp_path / "failed-once")
    maps = [{km.k: 2, km.seed: 4}, {km.k: 3, km.seed: 4}]
    fitted = dict(km.fitMultiple(df, maps))
    assert (tmp_path / "failed-once").exists()  # the first attempt did fail
    km._fail_once_marker = None
    for i, m in enumerate(maps):
        same_fit(fitted[i], km.fit(df, m))


def test_empty_param_maps_give_no_models_and_run_nothing(data):
    assert list(FaissKMeans().fitMultiple(data, [])) == []


@pytest.mark.parametrize(
    "maps, error, match",
    [
        (
            lambda km: [{km.k: 3}, {km.k: 700}],
            ValueError,
            r"k=700.*600",
        ),
        (lambda km: [{km.k: 3}, [(km.k, 4)]], TypeError, r"paramMaps\[1\] should be a dict"),
        (
            lambda km: [{km.k: 3, km.initialModel: np.zeros((2, 4))}],
            ValueError,
            r"initialModel has 2 centroids but k=3",
        ),
    ],
    ids=["k-above-rows", "not-a-dict", "warm-start-k-mismatch"],
)
def test_errors(data, maps, error, match):
    km = FaissKMeans(maxIter=3)
    with pytest.raises(error, match=match):
        list(km.fitMultiple(data, maps(km)))


def test_k_above_rows_raises_the_single_fit_message(data):
    km = FaissKMeans(maxIter=3)
    with pytest.raises(ValueError) as single:
        km.fit(data, {km.k: 700})
    with pytest.raises(ValueError) as multiple:
        list(km.fitMultiple(data, [{km.k: 2}, {km.k: 700}, {km.k: 800}]))
    assert str(multiple.value) == str(single.value)
