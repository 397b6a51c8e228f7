"""CUDA backends against faiss-cpu (skipped where no GPU is visible, see tests/conftest.py),
and the backend policy (choose_backend, CUDA ordinals) as it behaves without a GPU."""

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


@pytest.mark.gpu
def test_gpu_choice_takes_the_given_device_and_falls_back_out_of_range():
    from bigseg.kmeans.assign import choose_backend

    choice = choose_backend("auto", device=0)
    assert choice.on_gpu and choice.device_name == "cuda:0"
    assert choice.backend in ("faiss-gpu", "torch") and not choice.fallback
    backend = "faiss-gpu" if faiss_gpu_count() else "torch"
    far = choose_backend(backend, device=64, fallback="cpu")
    assert (far.backend, far.fallback) == ("faiss-cpu", True)
    assert far.reason.startswith("GPU ordinal 64 is out of range")


@pytest.mark.gpu
def test_torch_lloyd_on_an_explicit_cuda_device(problem):
    if not _cuda_torch():
        pytest.skip("torch has no CUDA here")
    X, init = problem
    gpu = lloyd(X, init, backend="torch", device=0, assignment="exact", max_iter=5, tol=0)
    cpu = lloyd(X, init, backend="faiss-cpu", assignment="exact", max_iter=5, tol=0)
    assert (gpu.backend, gpu.device) == ("torch", 0)
    np.testing.assert_allclose(gpu.centroids, cpu.centroids, rtol=1e-4, atol=1e-4)
    assert gpu.inertia == pytest.approx(cpu.inertia, rel=1e-4)


# -- the backend policy, as it behaves where no GPU is usable (CI) ----------------------


def _no_usable_gpu() -> bool:
    from bigseg.kmeans.gpu import torch_cuda_count

    return faiss_gpu_count() == 0 and torch_cuda_count() == 0


cpu_only = pytest.mark.skipif(not _no_usable_gpu(), reason="pins the policy without a GPU")


@pytest.mark.parametrize(
    "address, visible, ordinal",
    [
        ("0", None, 0),
        ("3", "", 3),
        ("3", "2,3", 1),
        ("GPU-ab12", "GPU-ff00,GPU-ab12", 1),
        (" 1 ", "1", 0),
    ],
)
def test_cuda_ordinal_maps_spark_addresses(address, visible, ordinal, monkeypatch):
    from bigseg.kmeans.gpu import cuda_ordinal

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert cuda_ordinal(address, visible) == ordinal


@pytest.mark.parametrize(
    "address, visible, match",
    [
        ("1", "2,3", r"address '1' is not among CUDA_VISIBLE_DEVICES='2,3'"),
        ("GPU-ab12", None, r"address 'GPU-ab12' is not a GPU index and CUDA_VISIBLE_DEVICES"),
    ],
)
def test_cuda_ordinal_errors(address, visible, match, monkeypatch):
    from bigseg.kmeans.gpu import cuda_ordinal

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(ValueError, match=match):
        cuda_ordinal(address, visible)


@cpu_only
@pytest.mark.parametrize(
    "requested, kwargs, backend, fallback, reason",
    [
        ("faiss-cpu", {}, "faiss-cpu", False, ""),
        ("faiss-gpu", {"fallback": "cpu"}, "faiss-cpu", True, "faiss.get_num_gpus() is 0"),
        (
            "faiss-gpu",
            {"fallback": "cpu", "context": "no Spark GPU"},
            "faiss-cpu",
            True,
            "faiss.get_num_gpus() is 0; no Spark GPU",
        ),
        # torch on the CPU is legal where no GPU was asked for ...
        ("torch", {}, "torch", False, "torch.cuda.is_available() is False"),
        # ... and a fallback where the scheduler gave this process a GPU
        (
            "torch",
            {"fallback": "cpu", "gpu_address": "0"},
            "faiss-cpu",
            True,
            "torch.cuda.is_available() is False",
        ),
        (
            "faiss-gpu",
            {"fallback": "cpu", "gpu_address": "4"},
            "faiss-cpu",
            True,
            "faiss.get_num_gpus() is 0",
        ),
    ],
)
def test_choose_backend_without_a_gpu(requested, kwargs, backend, fallback, reason):
    from bigseg.kmeans.assign import choose_backend

    choice = choose_backend(requested, **kwargs)
    assert (choice.backend, choice.device, choice.fallback, choice.reason) == (
        backend, None, fallback, reason
    )
    assert choice.device_name == "cpu" and not choice.on_gpu
    if fallback:
        assert choice.describe() == f"faiss-cpu on cpu (fallback from {requested}: {reason})"


@cpu_only
def test_auto_without_a_gpu_runs_faiss_cpu_and_says_why():
    from bigseg.kmeans.assign import choose_backend

    choice = choose_backend("auto")
    assert (choice.backend, choice.fallback) == ("faiss-cpu", False)
    assert choice.reason.startswith("faiss-gpu: faiss.get_num_gpus() is 0; torch: ")
    approximate = choose_backend("auto", approximate=True)
    assert approximate.reason == "faiss-gpu: faiss.get_num_gpus() is 0; torch: exact search only"


@cpu_only
@pytest.mark.parametrize(
    "requested, kwargs, match",
    [
        ("faiss-gpu", {}, r"backend='faiss-gpu' cannot run here: faiss.get_num_gpus\(\) is 0"),
        (
            "torch",
            {"gpu_address": "0"},
            r"backend='torch' cannot run here: torch.cuda.is_available\(\) is False",
        ),
        ("torch", {"approximate": True}, r"backend='torch' supports assignment='exact' only"),
        ("cuda", {}, r"backend must be one of .* got 'cuda'"),
        ("auto", {"fallback": "gpu"}, r"backend fallback must be one of \('cpu', 'error'\)"),
    ],
)
def test_choose_backend_errors(requested, kwargs, match):
    from bigseg.kmeans.assign import choose_backend

    with pytest.raises(ValueError, match=match):
        choose_backend(requested, **kwargs)


@cpu_only
def test_lloyd_with_fallen_back_backend_equals_faiss_cpu(problem):
    """What an executor without its GPU runs: the same fit as faiss-cpu, bit for bit."""
    from bigseg.kmeans.assign import choose_backend

    X, init = problem
    choice = choose_backend("faiss-gpu", fallback="cpu")
    fell_back = lloyd(X, init, backend=choice.backend, device=choice.device, max_iter=10)
    cpu = lloyd(X, init, backend="faiss-cpu", max_iter=10)
    np.testing.assert_array_equal(fell_back.centroids, cpu.centroids)
    assert fell_back.backend == "faiss-cpu" and fell_back.device is None
