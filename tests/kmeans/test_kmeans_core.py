"""Hand-computed cases for the k-means core: the toy, weights, empty clusters, spherical."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from bigseg.kmeans import (
    KMeans,
    LloydStats,
    kmeans_plusplus,
    lloyd,
    lloyd_stats,
    make_assigner,
    random_init,
)
from bigseg.kmeans.repair import RELATIVE_STEP, split_empty_clusters

# scikit-learn's toy (test_kmeans_results): weights 3, 1, 1, 3 pull the centres outwards.
TOY_X = np.array([[0, 0], [0.5, 0], [0.5, 1], [1, 1]], dtype=np.float32)
TOY_W = np.array([3, 1, 1, 3], dtype=np.float64)
TOY_INIT = np.array([[0, 0], [1, 1]], dtype=np.float32)


def blobs(n=600, k=4, d=5, seed=0, spread=10.0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-spread, spread, size=(k, d)).astype(np.float32)
    labels = rng.integers(0, k, n)
    X = centers[labels] + rng.standard_normal((n, d)).astype(np.float32) * 0.5
    return np.ascontiguousarray(X), labels, centers


def test_toy_hand_computed():
    km = KMeans(2, init=TOY_INIT, seed=0).fit(TOY_X, sample_weight=TOY_W)
    # centres: (3*0 + 1*0.5)/4 = 0.125 and (1*0.5 + 3*1)/4 = 0.875 on x; 0 and 1 on y.
    np.testing.assert_allclose(km.cluster_centers_, [[0.125, 0], [0.875, 1]], atol=1e-7)
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    # inertia: 3*0.125^2 + 0.375^2 + 0.375^2 + 3*0.125^2 = 0.375
    assert km.inertia_ == pytest.approx(0.375, rel=1e-7)
    # iteration 1 moves the centres, iteration 2 changes no label: converged strictly.
    assert km.n_iter_ == 2
    assert km.converged_
    assert [h["objective"] for h in km.history_] == pytest.approx([0.5, 0.375])
    assert km.history_[-1]["n_changed"] == 0


def test_toy_unweighted_hand_computed():
    km = KMeans(2, init=TOY_INIT, seed=0).fit(TOY_X)
    np.testing.assert_allclose(km.cluster_centers_, [[0.25, 0], [0.75, 1]], atol=1e-7)
    assert km.inertia_ == pytest.approx(4 * 0.25**2)


def test_weights_all_one_equal_no_weights():
    X, _, _ = blobs()
    a = KMeans(4, seed=3).fit(X)
    b = KMeans(4, seed=3).fit(X, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-6)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-9)


def test_scaled_weights_same_result():
    X, _, _ = blobs(seed=1)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    a = KMeans(4, seed=5).fit(X, sample_weight=w)
    b = KMeans(4, seed=5).fit(X, sample_weight=w * 10)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-6)
    assert b.inertia_ == pytest.approx(10 * a.inertia_, rel=1e-6)


def test_integer_weights_equal_duplicated_points():
    X, _, _ = blobs(n=300, seed=2)
    w = np.random.default_rng(2).integers(1, 4, len(X))
    init = X[:4].copy()
    a = KMeans(4, init=init).fit(X, sample_weight=w)
    b = KMeans(4, init=init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.repeat(a.labels_, w), b.labels_)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-6)
    assert a.n_iter_ == b.n_iter_


def test_split_empty_clusters_by_hand():
    centroids = np.array([[9.0, 9.0], [1.0, 2.0], [5.0, 5.0]])
    counts = np.array([0.0, 10.0, 4.0])
    repaired = split_empty_clusters(centroids, counts, seed=0, iteration=1, scale=2.0)
    assert repaired == 1
    # the empty centroid 0 now shares cluster 1: the two are symmetric about (1, 2)
    np.testing.assert_allclose((centroids[0] + centroids[1]) / 2, [1.0, 2.0])
    step = np.linalg.norm(centroids[0] - centroids[1]) / 2
    assert step == pytest.approx(RELATIVE_STEP * 2.0)
    np.testing.assert_array_equal(counts, [5.0, 5.0, 4.0])
    np.testing.assert_array_equal(centroids[2], [5.0, 5.0])


def test_empty_cluster_repaired_deterministically():
    X, _, _ = blobs(n=400, k=3, seed=4)
    # centroid 2 sits far from every point: empty after the first assignment
    init = np.vstack([X[0], X[1], np.full(X.shape[1], 1e3, np.float32)])
    runs = [lloyd(X, init, max_iter=50, seed=7, assignment="exact") for _ in range(2)]
    first = runs[0]
    assert first.history[0]["clusters_repaired"] == 1
    assert np.unique(first.labels).size == 3
    assert np.all(first.cluster_sizes > 0)
    np.testing.assert_array_equal(first.centroids, runs[1].centroids)
    assert np.all(np.abs(first.centroids) < 100)


def test_fewer_distinct_points_than_k_warns():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]], np.float32), 5, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = KMeans(3, seed=0, max_iter=20).fit(X)
    assert km.cluster_centers_.shape == (3, 2)
    assert np.isfinite(km.inertia_)


def test_spherical_toy():
    # two directions, points at different lengths: cosine clustering ignores the length
    X = np.array([[1, 0], [3, 0.3], [0, 2], [0.2, 5]], dtype=np.float32)
    km = KMeans(2, init=np.array([[1, 0], [0, 1]], np.float32), spherical=True).fit(X)
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    expected = np.stack([unit[:2].mean(0), unit[2:].mean(0)])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(km.cluster_centers_, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0, rtol=1e-6)
    # inertia on the unit sphere: sum of 2 - 2 cos
    cos = np.einsum("ij,ij->i", unit, expected[km.labels_])
    assert km.inertia_ == pytest.approx(
        float(np.sum(2 - 2 * cos)), rel=1e-5, abs=1e-6
    )  # float32 cos: ~1e-7 per point
    # rescaling rows changes nothing
    km2 = KMeans(2, init=np.array([[1, 0], [0, 1]], np.float32), spherical=True).fit(X * 7)
    np.testing.assert_allclose(km2.cluster_centers_, km.cluster_centers_, rtol=1e-6)
    np.testing.assert_allclose(km.transform(X).min(axis=1) ** 2, 2 - 2 * cos, atol=1e-5)


def test_lloyd_stats_add_across_blocks():
    X, _, _ = blobs(n=1000, seed=5)
    w = np.random.default_rng(5).uniform(0, 3, len(X))
    assigner = make_assigner(X[:4], assignment="exact", backend="faiss-cpu")
    labels, sqdist, whole = lloyd_stats(X, assigner, w, block_size=128)
    _, _, a = lloyd_stats(X[:377], assigner, w[:377])
    _, _, b = lloyd_stats(X[377:], assigner, w[377:])
    parts = a + b
    np.testing.assert_allclose(parts.sums, whole.sums, rtol=1e-12)
    np.testing.assert_allclose(parts.counts, whole.counts, rtol=1e-12)
    assert parts.inertia == pytest.approx(whole.inertia, rel=1e-12)
    assert labels.dtype == np.int64 and sqdist.dtype == np.float32
    # the statistics are what they claim to be
    for c in range(4):
        mask = labels == c
        np.testing.assert_allclose(whole.sums[c], w[mask] @ X[mask].astype(np.float64), rtol=1e-9)
        assert whole.counts[c] == pytest.approx(w[mask].sum())
    again = LloydStats.from_arrays(whole.to_arrays())
    np.testing.assert_array_equal(again.sums, whole.sums)
    assert again.inertia == whole.inertia
    assert all(v.dtype == np.float64 for v in whole.to_arrays().values())


def test_tolerance_relative_to_variance():
    X, _, _ = blobs(n=500, seed=6)
    loose = KMeans(4, seed=1, tol=10.0).fit(X)
    assert loose.n_iter_ == 1  # any first shift is below 10 x the variance
    # the same data scaled: the relative tolerance stops at the same iteration
    tight = KMeans(4, seed=1, tol=1e-4).fit(X)
    scaled = KMeans(4, seed=1, tol=1e-4).fit(X * 1000)
    assert tight.n_iter_ == scaled.n_iter_


def test_max_points_per_centroid_subsamples_and_logs(caplog):
    X, _, _ = blobs(n=2000, k=4, seed=7)
    with caplog.at_level(logging.INFO, logger="bigseg.kmeans"):
        km = KMeans(4, seed=0, max_points_per_centroid=50).fit(X)
    assert "Subsampling for training: 200 of 2000" in caplog.text
    assert km.labels_.shape == (2000,)
    full = KMeans(4, seed=0).fit(X)
    # same partition; centroids from 50 points per cluster sit ~sigma/sqrt(50) off
    assert adjusted_rand_score(km.labels_, full.labels_) == 1.0
    assert km.inertia_ == pytest.approx(full.inertia_, rel=5e-2)


def test_verbose_logs_and_never_prints(caplog, capsys):
    X, _, _ = blobs(n=200, seed=8)
    with caplog.at_level(logging.INFO, logger="bigseg.kmeans"):
        KMeans(4, seed=0, verbose=True).fit(X)
    assert "iteration 1: objective=" in caplog.text
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_history_records():
    X, _, _ = blobs(n=300, seed=9)
    km = KMeans(4, seed=0, max_iter=3, tol=0).fit(X)
    keys = {
        "iteration",
        "objective",
        "centroid_shift",
        "imbalance",
        "n_changed",
        "clusters_repaired",
        "seconds",
        "search_seconds",
        "build_seconds",
    }
    assert keys <= set(km.history_[0])
    assert [h["iteration"] for h in km.history_] == list(range(1, km.n_iter_ + 1))
    objectives = [h["objective"] for h in km.history_]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(objectives, objectives[1:], strict=False))
    assert km.history_[0]["imbalance"] >= 1.0


def test_estimator_contract_predict_transform_score():
    X, _, _ = blobs(n=400, seed=10)
    km = KMeans(4, seed=2)
    assert km.get_params()["n_clusters"] == 4  # __init__ only stores
    assert km.fit(X) is km
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    dist = km.transform(X)
    assert dist.shape == (400, 4)
    np.testing.assert_array_equal(dist.argmin(axis=1), km.labels_)
    np.testing.assert_allclose((dist.min(axis=1) ** 2).sum(), km.inertia_, rtol=1e-4)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)
    np.testing.assert_array_equal(KMeans(4, seed=2).fit_predict(X), km.labels_)
    assert km.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="X has 3 features, but KMeans is expecting 5"):
        km.predict(X[:, :3])


def test_same_seed_same_result_any_seed():
    X, _, _ = blobs(n=300, seed=11)
    for seed in (0, 1, 42):
        a = KMeans(4, seed=seed).fit(X)
        b = KMeans(4, seed=seed).fit(X)
        np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_kmeans_plusplus_deterministic_and_weighted():
    X, _, _ = blobs(n=500, k=4, seed=12)
    a = kmeans_plusplus(X, 16, seed=3)
    np.testing.assert_array_equal(a, kmeans_plusplus(X, 16, seed=3))
    assert not np.array_equal(a, kmeans_plusplus(X, 16, seed=4))
    assert a.dtype == np.float32 and a.shape == (16, 5)
    # every seed is a data row, and rows with weight 0 are never chosen
    w = np.zeros(len(X))
    w[:40] = 1.0
    seeded = kmeans_plusplus(X, 8, sample_weight=w, seed=0)
    rows = {tuple(r) for r in X[:40]}
    assert all(tuple(r) in rows for r in seeded)
    rnd = random_init(X, 8, sample_weight=w, seed=0)
    assert all(tuple(r) in rows for r in rnd)
    np.testing.assert_array_equal(rnd, random_init(X, 8, sample_weight=w, seed=0))


def test_read_only_input_is_not_copied_or_warned():
    import warnings

    X, _, _ = blobs(n=300, seed=13)
    X.flags.writeable = False  # like a shard viewed zero-copy from Arrow buffers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for backend in ("faiss-cpu", "torch"):
            res = lloyd(X, X[:4], backend=backend, assignment="exact")
            assert res.labels.shape == (300,)


def test_sklearn_pipeline_and_clone():
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, _ = blobs(n=200, seed=14)
    pipe = make_pipeline(StandardScaler(), KMeans(4, seed=0)).fit(X)
    assert pipe.predict(X).shape == (200,)
    twin = clone(KMeans(4, seed=0, spherical=True))
    assert twin.get_params()["spherical"] is True and not hasattr(twin, "labels_")


def test_callback_once_per_iteration():
    X, _, _ = blobs(n=300, seed=15)
    seen = []
    res = lloyd(X, X[:4], max_iter=4, tol=0, callback=seen.append)
    assert seen == res.history and len(seen) == res.n_iter


class _WrongAssigner:
    """An assigner whose search always answers centroid 0 (a worst-case ANN miss)."""

    spherical = False

    def __init__(self, centroids):
        self.centroids = centroids
        self.n_clusters = len(centroids)

    def search(self, X, out=None):
        sqdist, labels = out
        labels[:] = 0
        sqdist[:] = ((X - self.centroids[0]) ** 2).sum(axis=1)
        return sqdist, labels


def test_candidates_repair_approximate_misses():
    X, truth, centers = blobs(n=500, k=4, seed=16)
    assigner = _WrongAssigner(np.ascontiguousarray(centers))
    exact = make_assigner(centers, assignment="exact")
    exact_labels, exact_d, exact_stats = lloyd_stats(X, exact)
    out = (np.empty(500, np.int64), np.empty(500, np.float32))
    labels, sqdist, stats = lloyd_stats(X, assigner, out=out, candidates=exact_labels)
    np.testing.assert_array_equal(labels, exact_labels)
    np.testing.assert_allclose(sqdist, exact_d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.sums, exact_stats.sums, rtol=1e-9)
    # -1 means "no candidate": the searched label stays
    labels, _, _ = lloyd_stats(X, assigner, candidates=np.full(500, -1, np.int64))
    assert np.all(labels == 0)
