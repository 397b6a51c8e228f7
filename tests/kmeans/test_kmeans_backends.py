"""Agreement with scikit-learn, between backends, and the recall of approximate search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from bigseg.kmeans import (
    KMeans,
    kmeans_plusplus,
    lloyd,
    make_assigner,
    resolve_assignment,
    resolve_backend,
)
from bigseg.kmeans.assign import AUTO_ANN_MIN_CLUSTERS

torch = pytest.importorskip("torch")


def small_blobs(n=900, k=6, d=8, seed=0):
    X, y = make_blobs(n_samples=n, centers=k, n_features=d, cluster_std=0.6, random_state=seed)
    return X.astype(np.float32), y


def matched_max_error(a, b):
    """Largest centre difference after the best one-to-one matching of the centres."""
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return float(np.abs(a[rows] - b[cols]).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn_up_to_permutation(seed):
    X, y = small_blobs(seed=seed)
    ours = KMeans(6, seed=seed).fit(X)
    theirs = SkKMeans(6, n_init=3, random_state=seed).fit(X)
    assert adjusted_rand_score(ours.labels_, theirs.labels_) == 1.0
    assert adjusted_rand_score(ours.labels_, y) == 1.0
    assert matched_max_error(ours.cluster_centers_, theirs.cluster_centers_) < 1e-4
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-5)


def test_same_init_same_iterations_as_sklearn():
    X, _ = small_blobs(n=500, k=4, seed=3)
    init = X[[0, 1, 2, 3]]
    ours = KMeans(4, init=init).fit(X)
    theirs = SkKMeans(4, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-5)


@pytest.mark.parametrize("spherical", [False, True])
def test_backends_agree(spherical):
    X, _ = small_blobs(n=2000, k=8, seed=4)
    init = kmeans_plusplus(X, 8, seed=4)
    runs = {
        b: lloyd(X, init, backend=b, assignment="exact", spherical=spherical, max_iter=50)
        for b in ("faiss-cpu", "torch")
    }
    a, b = runs["faiss-cpu"], runs["torch"]
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.inertia == pytest.approx(b.inertia, rel=1e-4)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-5, atol=1e-5)
    assert a.n_iter == b.n_iter


def test_torch_assigner_chunks_match_unchunked(monkeypatch):
    from bigseg.kmeans import torch_assign

    X, _ = small_blobs(n=3000, k=8, seed=5)
    C = X[:300].copy()
    whole_d, whole_l = make_assigner(C, backend="torch").search(X)
    # force tiny row and centroid chunks: ties must still go to the lowest index
    monkeypatch.setattr(torch_assign, "TILE_ELEMENTS", 1000)
    monkeypatch.setattr(torch_assign, "MAX_CENTROID_CHUNK", 7)
    chunk_d, chunk_l = make_assigner(C, backend="torch").search(X)
    np.testing.assert_array_equal(whole_l, chunk_l)
    # ||x||^2 + ||c||^2 - 2<x,c> in float32: absolute error ~1e-7 x ||x||^2 (~1e3 here)
    np.testing.assert_allclose(whole_d, chunk_d, rtol=1e-5, atol=1e-3)
    faiss_d, faiss_l = make_assigner(C, backend="faiss-cpu").search(X)
    np.testing.assert_array_equal(faiss_l, chunk_l)


@pytest.mark.parametrize("assignment", ["hnsw", "ivf"])
def test_ann_recall_reported(assignment):
    X, _ = make_blobs(n_samples=4000, centers=40, n_features=16, cluster_std=1.0, random_state=6)
    X = X.astype(np.float32)
    init = kmeans_plusplus(X, 256, seed=6)
    ann = lloyd(X, init, assignment=assignment, max_iter=5, tol=0, ann_params={"nprobe": 8})
    exact = lloyd(X, init, assignment="exact", max_iter=5, tol=0)
    recalls = [h["recall"] for h in ann.history]
    assert len(recalls) == 5
    assert all(0.8 <= r <= 1.0 for r in recalls)
    assert "recall" not in exact.history[0]
    assert ann.inertia == pytest.approx(exact.inertia, rel=2e-2)


def test_spherical_ann():
    X, _ = make_blobs(n_samples=2000, centers=10, n_features=8, random_state=7)
    X = X.astype(np.float32)
    res = lloyd(X, X[:64], spherical=True, assignment="hnsw", max_iter=3)
    assert all(h["recall"] > 0.9 for h in res.history)
    np.testing.assert_allclose(np.linalg.norm(res.centroids, axis=1), 1.0, rtol=1e-5)


def test_resolvers():
    assert resolve_assignment("auto", 1024) == "exact"
    assert resolve_assignment("auto", AUTO_ANN_MIN_CLUSTERS - 1) == "exact"
    assert resolve_assignment("auto", AUTO_ANN_MIN_CLUSTERS) == "ivf"
    assert resolve_assignment("ivf", 3) == "ivf"
    assert resolve_backend("faiss-cpu") == "faiss-cpu"
    assert resolve_backend("auto") in ("faiss-cpu", "faiss-gpu", "torch")
    with pytest.raises(ValueError, match="assignment must be one of"):
        resolve_assignment("lsh", 10)


def test_core_never_imports_spark():
    import subprocess
    import sys

    code = (
        "import sys, bigseg.kmeans as k, numpy as np;"
        "k.KMeans(2, seed=0).fit(np.random.rand(20, 3));"
        "bad = [m for m in sys.modules if m.startswith(('pyspark', 'torch'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hnsw_graph_reuse_between_rebuilds():
    X, _ = make_blobs(n_samples=4000, centers=40, n_features=16, random_state=8)
    X = X.astype(np.float32)
    init = kmeans_plusplus(X, 256, seed=8)
    every = lloyd(X, init, assignment="hnsw", max_iter=6, tol=0)
    reuse = lloyd(X, init, assignment="hnsw", max_iter=6, tol=0, ann_params={"rebuild_every": 3})
    assert all(h["recall"] > 0.9 for h in reuse.history)
    assert reuse.inertia == pytest.approx(every.inertia, rel=1e-2)
    # the refreshed graph searches the current centroids, not the ones it was built on
    assigner = make_assigner(init, assignment="hnsw", ann_params={"rebuild_every": 5})
    moved = init + 0.5
    assigner.update(moved)
    _, labels = assigner.search(moved)
    np.testing.assert_array_equal(labels, np.arange(256))
