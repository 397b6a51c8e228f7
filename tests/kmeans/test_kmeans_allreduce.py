"""Distributed Lloyd simulated in threads: shards + an in-process allreduce.

Each participant holds a shard and runs ``lloyd``; the allreduce sums the participants'
float64 arrays in shard order and hands every participant the same totals, which is what
the Spark layer's collective does between barrier tasks.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from bigseg.kmeans import kmeans_plusplus, lloyd


class InProcessAllreduce:
    """Allreduce over N threads: deposit, wait, sum in a fixed order, wait."""

    def __init__(self, n):
        self.n = n
        self.slots = [None] * n
        self.barrier = threading.Barrier(n, timeout=60)

    def for_rank(self, rank):
        def allreduce(arrays):
            self.slots[rank] = arrays
            self.barrier.wait()
            total = {key: np.zeros_like(value, dtype=np.float64) for key, value in arrays.items()}
            for part in self.slots:  # shard order: every rank adds identically
                for key in total:
                    total[key] += part[key]
            self.barrier.wait()  # nobody overwrites a slot before all have read
            return total

        return allreduce


def run_sharded(X, init, n_shards, w=None, **kwargs):
    bounds = np.linspace(0, len(X), n_shards + 1).astype(int)
    comm = InProcessAllreduce(n_shards)
    results = [None] * n_shards
    errors = []

    def participant(rank):
        lo, hi = bounds[rank], bounds[rank + 1]
        try:
            results[rank] = lloyd(
                X[lo:hi],
                init,
                sample_weight=None if w is None else w[lo:hi],
                allreduce=comm.for_rank(rank),
                **kwargs,
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            comm.barrier.abort()

    threads = [threading.Thread(target=participant, args=(r,)) for r in range(n_shards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=3500, centers=12, n_features=10, random_state=11)
    X = X.astype(np.float32)
    w = np.random.default_rng(11).uniform(0.2, 3.0, len(X))
    return X, w, kmeans_plusplus(X, 16, sample_weight=w, seed=11)


@pytest.mark.parametrize("n_shards", [1, 2, 7])
@pytest.mark.parametrize("spherical", [False, True])
def test_shards_match_single_process(data, n_shards, spherical):
    X, w, init = data
    single = lloyd(X, init, sample_weight=w, spherical=spherical, seed=3, max_iter=30)
    parts = run_sharded(X, init, n_shards, w=w, spherical=spherical, seed=3, max_iter=30)
    for part in parts:
        # every participant derived the same centroids and global values
        np.testing.assert_array_equal(part.centroids, parts[0].centroids)
        assert part.n_iter == parts[0].n_iter
        assert part.inertia == parts[0].inertia
    np.testing.assert_allclose(parts[0].centroids, single.centroids, rtol=1e-5, atol=1e-6)
    assert parts[0].inertia == pytest.approx(single.inertia, rel=1e-5)
    assert parts[0].n_iter == single.n_iter
    np.testing.assert_array_equal(np.concatenate([p.labels for p in parts]), single.labels)
    np.testing.assert_allclose(parts[0].cluster_sizes, single.cluster_sizes, rtol=1e-9)


def test_shards_repair_empty_clusters_identically(data):
    X, w, init = data
    far = init.copy()
    far[:3] = 1e4  # three empty clusters in the first iteration
    single = lloyd(X, far, sample_weight=w, seed=5, max_iter=30)
    parts = run_sharded(X, far, 7, w=w, seed=5, max_iter=30)
    assert single.history[0]["clusters_repaired"] == 3
    assert parts[0].history[0]["clusters_repaired"] == 3
    np.testing.assert_allclose(parts[0].centroids, single.centroids, rtol=1e-5, atol=1e-6)
    for part in parts[1:]:
        np.testing.assert_array_equal(part.centroids, parts[0].centroids)


@pytest.mark.parametrize("assignment", ["hnsw", "ivf"])
def test_ann_shards_match_and_recall_is_global(data, assignment):
    X, w, init = data
    single = lloyd(X, init, assignment=assignment, seed=1, max_iter=5, tol=0)
    parts = run_sharded(X, init, 2, assignment=assignment, seed=1, max_iter=5, tol=0)
    np.testing.assert_allclose(parts[0].centroids, single.centroids, rtol=1e-5, atol=1e-6)
    for a, b in zip(parts[0].history, parts[1].history, strict=True):
        assert a["recall"] == b["recall"]
        assert 0.8 <= a["recall"] <= 1.0


def test_empty_shard_participates(data):
    X, w, init = data
    single = lloyd(X, init, seed=2, max_iter=10)
    Xe = np.concatenate([X[:0], X])  # rank 0 gets nothing with 2 uneven bounds below
    comm = InProcessAllreduce(2)
    out = [None, None]

    def go(rank, shard):
        out[rank] = lloyd(shard, init, seed=2, max_iter=10, allreduce=comm.for_rank(rank))

    threads = [
        threading.Thread(target=go, args=(0, Xe[:0])),
        threading.Thread(target=go, args=(1, Xe)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0].labels.shape == (0,)
    np.testing.assert_allclose(out[0].centroids, single.centroids, rtol=1e-5, atol=1e-6)
