"""IVF over the centroids, the approximate assignment "auto" picks at large k."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from bigseg.kmeans import KMeans, kmeans_plusplus, lloyd, make_assigner
from bigseg.kmeans.assign import AUTO_ANN_MIN_CLUSTERS, AnnParams, default_nlist


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=6000, centers=40, n_features=16, random_state=11)
    X = X.astype(np.float32)
    return X, kmeans_plusplus(X, 512, seed=11)


def test_same_seed_same_centroids(blobs):
    X, _ = blobs
    fits = [
        KMeans(512, seed=4, assignment="ivf", max_iter=6, tol=0).fit(X) for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    assert [h["recall"] for h in fits[0].history_] == [h["recall"] for h in fits[1].history_]


def test_same_centroids_with_one_or_two_faiss_threads(blobs):
    # A Spark task runs FAISS on one thread, a local fit on all cores: same coarse
    # quantizer, same lists, same labels.
    X, init = blobs
    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        one = lloyd(X, init, assignment="ivf", max_iter=4, tol=0, seed=3)
        faiss.omp_set_num_threads(2)
        two = lloyd(X, init, assignment="ivf", max_iter=4, tol=0, seed=3)
    finally:
        faiss.omp_set_num_threads(threads)
    np.testing.assert_array_equal(one.centroids, two.centroids)
    np.testing.assert_array_equal(one.labels, two.labels)


def test_default_ivf_recall_and_inertia_close_to_exact(blobs):
    X, init = blobs
    ivf = lloyd(X, init, assignment="ivf", max_iter=8, tol=0, seed=0)
    exact = lloyd(X, init, assignment="exact", max_iter=8, tol=0, seed=0)
    recalls = [h["recall"] for h in ivf.history]
    assert len(recalls) == 8
    assert all(0.9 <= r <= 1.0 for r in recalls)
    assert ivf.inertia == pytest.approx(exact.inertia, rel=1e-2)


def test_spherical_ivf():
    X, _ = make_blobs(n_samples=3000, centers=12, n_features=8, random_state=12)
    X = X.astype(np.float32)
    res = lloyd(X, X[:128], spherical=True, assignment="ivf", max_iter=4, tol=0)
    exact = lloyd(X, X[:128], spherical=True, assignment="exact", max_iter=4, tol=0)
    assert all(h["recall"] > 0.9 for h in res.history)
    np.testing.assert_allclose(np.linalg.norm(res.centroids, axis=1), 1.0, rtol=1e-5)
    assert res.inertia == pytest.approx(exact.inertia, rel=2e-2)


@pytest.mark.parametrize(
    ("k", "params", "nlist", "nprobe"),
    [
        (65536, {}, default_nlist(65536), AnnParams().nprobe),
        (1024, {}, default_nlist(1024), AnnParams().nprobe),
        (4, {}, 4, 4),  # never more lists than centroids, nor more probes than lists
        (1024, {"nlist": 16, "nprobe": 3}, 16, 3),
    ],
)
def test_ivf_index_shape(k, params, nlist, nprobe):
    C = np.random.default_rng(k).standard_normal((k, 4)).astype(np.float32)
    assigner = make_assigner(C, assignment="ivf", ann_params=params)
    assert (assigner.index.nlist, assigner.index.nprobe) == (nlist, nprobe)
    _, labels = assigner.search(C[:50])
    assert (labels >= 0).all()


def test_auto_uses_ivf_from_the_threshold():
    k = AUTO_ANN_MIN_CLUSTERS
    X = np.random.default_rng(5).standard_normal((k + 500, 4)).astype(np.float32)
    res = lloyd(X, X[:k], max_iter=1, tol=0, backend="faiss-cpu")
    below = lloyd(X, X[: k - 1], max_iter=1, tol=0, backend="faiss-cpu")
    assert (res.assignment, below.assignment) == ("ivf", "exact")
    assert 0.0 <= res.history[0]["recall"] <= 1.0
    assert "recall" not in below.history[0]
