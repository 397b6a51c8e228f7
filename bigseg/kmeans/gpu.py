"""GPU devices for the search backends: what this process sees, and FAISS GPU resources.

Device numbers here are CUDA *ordinals*, as FAISS (``GpuIndexFlatConfig.device``) and
torch (``cuda:<n>``) take them: the position of a GPU among those this process can see.
Where ``CUDA_VISIBLE_DEVICES`` is set, ordinal 0 is its first entry, not physical GPU 0;
``cuda_ordinal`` maps a GPU *address* (what Spark hands a task: the index the discovery
script printed, ``nvidia-smi``'s physical index, which ignores ``CUDA_VISIBLE_DEVICES``)
to the ordinal. faiss and torch are imported lazily: this module is also imported where
neither has a GPU build.

``StandardGpuResources`` reserves a slice of GPU memory for temporary buffers when it is
created; making one per iteration would spend that time (and memory churn) every
iteration, so one per device is cached here.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
import threading

_lock = threading.Lock()
_resources: dict[int, object] = {}


def faiss_gpu_count() -> int:
    """GPUs FAISS can use (0 for a CPU-only FAISS build)."""
    import faiss

    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def nvidia_device_nodes() -> bool:
    """Whether an NVIDIA GPU device node exists: a cheap hint, no CUDA library loaded."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")  # dxg: WSL


def torch_worth_probing() -> bool:
    """Whether ``auto`` should ask torch for CUDA: importing torch costs ~2 s and ~300 MB,
    so only where torch is already imported or an NVIDIA device node exists."""
    return "torch" in sys.modules or (torch_installed() and nvidia_device_nodes())


def torch_cuda_count() -> int:
    """GPUs torch can use: 0 without torch, with a CPU build, or with no visible GPU."""
    if not torch_installed():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def cuda_ordinal(address: str, visible: str | None = None) -> int:
    """The CUDA ordinal of the GPU at Spark resource ``address`` in this process.

    ``visible`` is ``CUDA_VISIBLE_DEVICES`` (read from the environment when None). Unset
    or empty: the address is the ordinal (a container that sees only its GPUs numbers
    them from 0, and nvidia-smi inside it prints the same numbers). Set: the ordinal is
    the address's position in that list (addresses may be indices or ``GPU-<uuid>``);
    an address missing from it is a GPU this process cannot reach, a ``ValueError``.
    """
    address = str(address).strip()
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in (visible or "").split(",") if e.strip()]
    if entries:
        if address in entries:
            return entries.index(address)
        raise ValueError(
            f"the task's GPU address {address!r} is not among CUDA_VISIBLE_DEVICES="
            f"{visible!r}, so this process cannot use it"
        )
    if not address.isdigit():
        raise ValueError(
            f"the task's GPU address {address!r} is not a GPU index and "
            "CUDA_VISIBLE_DEVICES is unset, so it cannot be mapped to a CUDA device"
        )
    return int(address)


def gpu_resources(device: int = 0):
    """The process-wide ``faiss.StandardGpuResources`` for ``device``."""
    import faiss

    with _lock:
        if device not in _resources:
            _resources[device] = faiss.StandardGpuResources()
        return _resources[device]


def gpu_flat_index(d: int, metric: int, device: int = 0):
    """A flat (exact) GPU index with the given metric on ``device``."""
    import faiss

    config = faiss.GpuIndexFlatConfig()
    config.device = device
    res = gpu_resources(device)
    if metric == faiss.METRIC_INNER_PRODUCT:
        return faiss.GpuIndexFlatIP(res, d, config)
    return faiss.GpuIndexFlatL2(res, d, config)


def to_gpu(index, device: int = 0):
    """Copy a CPU index (e.g. IVF) to ``device``."""
    import faiss

    return faiss.index_cpu_to_gpu(gpu_resources(device), device, index)
