"""CUDA backends against faiss-cpu (skipped where no GPU is visible, see tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from bigseg.kmeans import kmeans_plusplus, lloyd
from bigseg.kmeans.assign import faiss_gpu_count


def _cuda_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="module")
def problem():
    X, _ = make_blobs(n_samples=20000, centers=32, n_features=16, random_state=3)
    X = X.astype(np.float32)
    return X, kmeans_plusplus(X, 32, seed=3)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["faiss-gpu", "torch"])
@pytest.mark.parametrize("spherical", [False, True])
def test_gpu_backend_matches_faiss_cpu(problem, backend, spherical):
    if backend == "faiss-gpu" and faiss_gpu_count() == 0:
        pytest.skip("FAISS sees no GPU (CPU-only FAISS build)")
    if backend == "torch" and not _cuda_torch():
        pytest.skip("torch has no CUDA here")
    X, init = problem
    cpu = lloyd(X, init, backend="faiss-cpu", assignment="exact", spherical=spherical, max_iter=30)
    gpu = lloyd(X, init, backend=backend, assignment="exact", spherical=spherical, max_iter=30)
    np.testing.assert_array_equal(cpu.labels, gpu.labels)
    assert gpu.inertia == pytest.approx(cpu.inertia, rel=1e-4)
    np.testing.assert_allclose(gpu.centroids, cpu.centroids, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_faiss_gpu_ivf_recall(problem):
    if faiss_gpu_count() == 0:
        pytest.skip("FAISS sees no GPU (CPU-only FAISS build)")
    X, _ = problem
    init = kmeans_plusplus(X, 256, seed=4)
    res = lloyd(X, init, backend="faiss-gpu", assignment="ivf", max_iter=3, tol=0)
    assert all(h["recall"] > 0.8 for h in res.history)
