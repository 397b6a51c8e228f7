"""FAISS GPU resources, created once per process and shared by every assigner.

``StandardGpuResources`` reserves a slice of GPU memory for temporary buffers when it is
created; making one per iteration would spend that time (and memory churn) every
iteration, so one per device is cached here. Only imported by the faiss-gpu backend.
"""

from __future__ import annotations

import threading

import faiss

_lock = threading.Lock()
_resources: dict[int, object] = {}


def gpu_resources(device: int = 0):
    """The process-wide ``faiss.StandardGpuResources`` for ``device``."""
    with _lock:
        if device not in _resources:
            _resources[device] = faiss.StandardGpuResources()
        return _resources[device]


def gpu_flat_index(d: int, metric: int, device: int = 0):
    """A flat (exact) GPU index with the given metric on ``device``."""
    config = faiss.GpuIndexFlatConfig()
    config.device = device
    res = gpu_resources(device)
    if metric == faiss.METRIC_INNER_PRODUCT:
        return faiss.GpuIndexFlatIP(res, d, config)
    return faiss.GpuIndexFlatL2(res, d, config)


def to_gpu(index, device: int = 0):
    """Copy a CPU index (e.g. IVF) to ``device``."""
    return faiss.index_cpu_to_gpu(gpu_resources(device), device, index)
