"""Assignment of points to their nearest centroid: exact or approximate, CPU or GPU.

An *assigner* holds a search structure over the current centroids. ``lloyd`` makes one per
fit and calls ``update(centroids)`` every iteration (the index is rebuilt, its buffers and
GPU resources are kept), then ``search(X)`` on blocks of points.

``search`` always returns ``(sqdist float32 (n,), labels int64 (n,))``. In spherical mode the
points and centroids are unit vectors, the search is by inner product and ``sqdist`` is
the squared euclidean distance on the unit sphere, ``2 - 2 cos``; so the objective means
the same thing in both modes and weighted sums of it stay comparable.

Backends: ``faiss-cpu`` (default), ``faiss-gpu`` (a FAISS GPU build and a visible GPU),
``torch`` (CUDA when available, else CPU, so CI runs its code path). torch is imported
lazily, only by the torch backend. ``choose_backend`` is the policy that picks one in a
process (an executor task): ``auto`` prefers faiss-gpu, then torch on CUDA, then
faiss-cpu; an explicit GPU backend that cannot run either raises or, with
``fallback="cpu"``, runs faiss-cpu and says why (``BackendChoice``).

Exact search gives the same labels on every backend up to float rounding: GPU and CPU
compute ``||c||^2 - 2<x, c>`` with different summation orders, so a point (almost)
equidistant from two centroids can go either way (ties within ~1e-6 relative); ties that
are exact go to the lower centroid index on all of them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ASSIGNMENTS",
    "BACKENDS",
    "FALLBACKS",
    "AUTO_ANN_MIN_CLUSTERS",
    "AnnParams",
    "Assigner",
    "BackendChoice",
    "choose_backend",
    "default_nlist",
    "make_assigner",
    "resolve_assignment",
    "resolve_backend",
]

ASSIGNMENTS = ("auto", "exact", "hnsw", "ivf")
BACKENDS = ("auto", "faiss-cpu", "faiss-gpu", "torch")
# What an explicit GPU backend that cannot run in a process does: "error" raises,
# "cpu" runs faiss-cpu there and records the reason.
FALLBACKS = ("cpu", "error")

# "auto" uses exact search below this many centroids and IVF from it on.
# Exact vs HNSW (faiss-cpu 1.15.1, d=32, 200k blob points, HNSW M=32, efSearch=16 with its
# per-iteration one-thread rebuild; CPU seconds, the box being shared):
#   k=4096   exact 0.34x the cost of HNSW        (HNSW recall@1 0.981)
#   k=8192   exact 0.43x                         (0.988)
#   k=16384  exact 0.89x: parity                 (0.997)
#   k=32768  exact 1.52x (1.8x wall)             (0.9995)
# At k=65536 HNSW stays near 2.5-3.5x faster than exact (1M x 32 points, 10 s/iteration of
# which ~4 s is the one-thread build), short of the 3x-with-margin the engine targets;
# IVF over the centroids builds in ~0.5 s and searches faster. At k=65536 (50k queries,
# CPU seconds, recall@1 of one search from centroids drawn from the data):
#                      64 blobs: speed-up  recall    structureless gaussian: speed-up  recall
#   HNSW M32 efS16            2.6x         0.966                             2.1x      0.843
#   IVF 256 lists, nprobe 8   5.4x         1.000                             5.0x      0.662
#   IVF 512 lists, nprobe 8   7.5x         0.990                             7.1x      0.614
#   IVF 512 lists, nprobe 16  4.2x         1.000                             4.2x      0.716
# (the build, not counted above: HNSW 3.0-4.2 s on one thread, IVF 0.4-0.6 s). In lloyd a
# point also keeps its previous centroid when that is closer, so recall climbs after the
# first iteration (gaussian, k=32768, IVF: 0.49 -> 0.94 in 4 iterations). Whole lloyd
# iterations at k=65536 on 64 blobs, same start, against exact: 200k points x 6, IVF
# 512/8 5.3x faster (HNSW 1.5x), recall 0.991 then 1.0, inertia -0.015% (HNSW +0.26%);
# 1M points (benchmarks/bench_engine.py --only ann, box heavily shared): x 5, 6.65x,
# recall 0.994 then >= 0.999, inertia -0.0003%; x 10, 7.4x, inertia -0.008%.
# IVF (default lists, nprobe 8) against exact at smaller k, blobs, search CPU seconds:
# k=4096 1.5x (and its build costs as much again), k=16384 3.3x, k=32768 5.1x, recall
# >= 0.997. The threshold stays where exact search is still affordable and exact.
AUTO_ANN_MIN_CLUSTERS = 20_000

# IVF lists per sqrt(k) centroids when ``AnnParams.nlist`` is None: 2 -> 512 lists at
# k=65536, ~128 centroids per list.
IVF_LISTS_PER_SQRT_K = 2.0

# FAISS's OpenMP thread count is process-wide: the one-thread HNSW build sets and
# restores it under this lock, so concurrent builds (threads in one process) cannot leave
# it changed.
_OMP_LOCK = threading.Lock()


@dataclass
class AnnParams:
    """Knobs of the approximate assigners (the keys accepted in ``ann_params``)."""

    hnsw_m: int = 32
    ef_search: int = 16
    ef_construction: int = 40
    nlist: int | None = None  # IVF lists; None -> default_nlist(k)
    # IVF lists searched per point: 8 of default_nlist(k) scans ~2% of the centroids at
    # k=65536 (see the table above for recall against speed).
    nprobe: int = 8
    # HNSW graphs built by several threads depend on thread timing; a one-thread build
    # makes every participant of a distributed fit build the same graph, so labels do not
    # depend on how the data are partitioned. Inside Spark tasks (one FAISS thread each)
    # it costs nothing; in one 2-thread process at k=65536 it is ~4.5 s of build instead
    # of ~2.8 s (measured), against ~10 s of search per million points.
    deterministic_build: bool = True
    # Rebuild the HNSW graph every this many iterations; in between, only the vectors
    # stored in the graph move to the new centroids (the links stay). 1 = rebuild every
    # iteration. Centroids move little after the first iterations, so the old links stay
    # navigable and the per-iteration cost drops to the search; the recall reported in
    # the history shows whether that holds. At k=65536 a one-thread build costs ~3 CPU-s.
    # Measured there (200k blob points, 6 iterations): rebuilt every iteration, recall
    # 0.958 -> 1.0 and inertia +0.26% over exact; every 3rd, 0.97 until the rebuild, +0.19%;
    # never, recall stuck at 0.97 and +1.24%: reuse saves the build, not the target.
    # IVF ignores it (its build, ~0.5 s at k=65536, is redone every iteration).
    rebuild_every: int = 1

    @classmethod
    def from_mapping(cls, params: dict | None) -> AnnParams:
        if params is None:
            return cls()
        if isinstance(params, AnnParams):
            return params
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"ann_params has unknown key(s) {unknown}; known keys are {sorted(known)}."
            )
        out = cls(**params)
        for key in ("hnsw_m", "ef_search", "ef_construction", "nprobe", "rebuild_every"):
            value = getattr(out, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ann_params[{key!r}] must be an int >= 1, got {value!r}.")
        if out.nlist is not None and (not isinstance(out.nlist, int) or out.nlist < 1):
            raise ValueError(f"ann_params['nlist'] must be None or an int >= 1, got {out.nlist!r}.")
        return out


def default_nlist(n_clusters: int) -> int:
    """IVF lists over ``n_clusters`` centroids: ``round(IVF_LISTS_PER_SQRT_K * sqrt(k))``."""
    return max(1, int(round(IVF_LISTS_PER_SQRT_K * np.sqrt(n_clusters))))


class Assigner(Protocol):
    """What ``lloyd_stats`` needs: nearest-centroid search over the current centroids."""

    n_clusters: int
    spherical: bool

    def update(self, centroids: np.ndarray) -> None: ...

    def search(
        self, X: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def resolve_assignment(assignment: str, n_clusters: int) -> str:
    """``"auto"`` -> ``"exact"`` below ``AUTO_ANN_MIN_CLUSTERS`` centroids, else ``"ivf"``."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got {assignment!r}.")
    if assignment != "auto":
        return assignment
    return "exact" if n_clusters < AUTO_ANN_MIN_CLUSTERS else "ivf"


@dataclass(frozen=True)
class BackendChoice:
    """The backend one process runs, on which device, and why.

    ``device`` is a CUDA ordinal (None: the CPU). ``reason`` says why the search is not
    on a GPU or not the backend requested ("" when it is); ``fallback`` is True when
    the requested backend could not run and faiss-cpu runs instead.
    """

    requested: str
    backend: str
    device: int | None = None
    reason: str = ""
    fallback: bool = False

    @property
    def on_gpu(self) -> bool:
        return self.device is not None

    @property
    def device_name(self) -> str:
        return "cpu" if self.device is None else f"cuda:{self.device}"

    def describe(self) -> str:
        """E.g. ``faiss-cpu on cpu (fallback from faiss-gpu: faiss.get_num_gpus() is 0)``."""
        text = f"{self.backend} on {self.device_name}"
        if self.fallback:
            return f"{text} (fallback from {self.requested}: {self.reason})"
        return f"{text} ({self.reason})" if self.reason else text

    def as_dict(self) -> dict:
        return {
            "requested": self.requested,
            "backend": self.backend,
            "device": self.device_name,
            "fallback": self.fallback,
            "reason": self.reason,
        }


def _gpu_problem(backend: str, device: int) -> str | None:
    """Why ``backend`` cannot search on CUDA ordinal ``device`` here (None: it can)."""
    from bigseg.kmeans import gpu

    if backend == "faiss-gpu":
        count = gpu.faiss_gpu_count()
        if count == 0:
            return "faiss.get_num_gpus() is 0" + (
                "" if hasattr(faiss, "get_num_gpus") else " (a CPU-only FAISS build)"
            )
        what = "faiss"
    else:
        if not gpu.torch_installed():
            return "torch is not installed"
        count = gpu.torch_cuda_count()
        if count == 0:
            return "torch.cuda.is_available() is False"
        what = "torch"
    if device >= count:
        return f"GPU ordinal {device} is out of range: {what} sees {count} GPU(s)"
    return None


def choose_backend(
    requested: str,
    *,
    device: int | None = None,
    gpu_address: str | None = None,
    fallback: str = "error",
    approximate: bool = False,
    context: str = "",
) -> BackendChoice:
    """Pick the search backend for this process.

    ``device``: the CUDA ordinal to use; or ``gpu_address``: the GPU a scheduler gave
    this process (Spark's task resource), mapped through ``CUDA_VISIBLE_DEVICES`` (see
    ``gpu.cuda_ordinal``); neither: ordinal 0, the first visible GPU. ``approximate``:
    the assignment is HNSW / IVF, which torch cannot do (``auto`` then skips torch).
    ``context`` is added to the reason (e.g. that a task holds no GPU resource).

    ``auto``: faiss-gpu, else torch on CUDA, else faiss-cpu (the reasons recorded);
    torch is asked only where an NVIDIA device node exists or torch is already imported
    (importing it costs ~2 s), so ``auto`` on a CPU machine stays light.
    ``torch``: on CUDA where torch sees the GPU, else on the CPU (legal: CI runs it),
    except where a GPU was asked for (``device`` or ``gpu_address`` given): then torch
    on the CPU is treated as the GPU being unusable. ``faiss-gpu``, or ``torch`` without torch
    or without its GPU: ``fallback="error"`` raises ``ValueError`` naming what is
    missing; ``"cpu"`` returns faiss-cpu with ``fallback=True`` and the reason.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}.")
    if fallback not in FALLBACKS:
        raise ValueError(f"backend fallback must be one of {FALLBACKS}, got {fallback!r}.")
    if requested == "torch" and approximate:
        raise ValueError(
            "backend='torch' supports assignment='exact' only; use backend='faiss-cpu' or "
            "'faiss-gpu' for approximate (hnsw / ivf) assignment."
        )
    from bigseg.kmeans import gpu

    gpu_asked = device is not None or gpu_address is not None
    address_problem = None
    if device is None:
        device = 0
        if gpu_address is not None:
            try:
                device = gpu.cuda_ordinal(gpu_address)
            except ValueError as exc:
                address_problem = str(exc)

    def problem(backend: str) -> str | None:
        found = _gpu_problem(backend, device)
        return found if found is not None else address_problem

    def with_context(reason: str) -> str:
        return f"{reason}; {context}" if context else reason

    if requested == "faiss-cpu":
        return BackendChoice(requested, "faiss-cpu")
    if requested == "auto":
        reasons = []
        found = problem("faiss-gpu")
        if found is None:
            return BackendChoice(requested, "faiss-gpu", device)
        reasons.append(f"faiss-gpu: {found}")
        if approximate:
            reasons.append("torch: exact search only")
        elif not gpu.torch_worth_probing():
            reasons.append("torch: not installed or no NVIDIA device node (/dev/nvidia*)")
        else:
            found = problem("torch")
            if found is None:
                return BackendChoice(requested, "torch", device, reason=reasons[0])
            reasons.append(f"torch: {found}")
        return BackendChoice(requested, "faiss-cpu", reason=with_context("; ".join(reasons)))
    found = problem(requested)
    if found is None:
        return BackendChoice(requested, requested, device)
    if requested == "torch" and gpu.torch_installed() and not gpu_asked:
        # No GPU was asked for: torch on the CPU is what this process can do.
        return BackendChoice(requested, "torch", None, reason=found)
    reason = with_context(found)
    if fallback == "cpu":
        return BackendChoice(requested, "faiss-cpu", reason=reason, fallback=True)
    hint = " (pip install 'bigseg[torch]')" if found == "torch is not installed" else ""
    raise ValueError(
        f"backend={requested!r} cannot run here: {reason}{hint}. Use backend='faiss-cpu' or "
        "'auto', or let it fall back to faiss-cpu (backend fallback 'cpu')."
    )


def faiss_gpu_count() -> int:
    """GPUs FAISS can use (0 for a CPU-only FAISS build)."""
    from bigseg.kmeans.gpu import faiss_gpu_count as count

    return count()


def resolve_backend(backend: str) -> str:
    """The backend ``choose_backend`` picks here (``"auto"`` resolved), without fallback.

    An explicitly requested backend that cannot run here raises a ``ValueError`` that says
    what is missing, instead of silently running on something else.
    """
    return choose_backend(backend).backend


def _as_search_out(n: int, out):
    """Output buffers for FAISS (which wants (n, 1) arrays) viewed as (n,) vectors."""
    if out is None:
        sqdist = np.empty(n, dtype=np.float32)
        labels = np.empty(n, dtype=np.int64)
    else:
        sqdist, labels = out
    return sqdist, labels


class FaissAssigner:
    """Exact (flat), HNSW or IVF search over the centroids with a FAISS index."""

    def __init__(
        self, n_features, *, assignment, gpu, spherical, ann_params: AnnParams, device: int = 0
    ):
        self.n_features = n_features
        self.assignment = assignment
        self.gpu = gpu
        self.device = device
        self.spherical = spherical
        self.ann = ann_params
        self.n_clusters = 0
        self.metric = faiss.METRIC_INNER_PRODUCT if spherical else faiss.METRIC_L2
        self.index = None
        self.centroids = None
        self._flat = None
        self._updates = 0

    def update(self, centroids: np.ndarray) -> None:
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.n_clusters = centroids.shape[0]
        self.centroids = centroids
        if self.assignment == "exact":
            self._update_flat(centroids)
        elif self.assignment == "hnsw":
            self._updates += 1
            if self.index is not None and (self._updates - 1) % self.ann.rebuild_every:
                self._refresh_hnsw(centroids)
            else:
                self.index = self._build_hnsw(centroids)
        else:
            self.index = self._build_ivf(centroids)

    def _update_flat(self, centroids):
        # The flat index is kept across iterations: reset + add reuses it (and on GPU its
        # memory), only the centroids change.
        if self._flat is None:
            if self.gpu:
                from bigseg.kmeans.gpu import gpu_flat_index

                self._flat = gpu_flat_index(self.n_features, self.metric, self.device)
            elif self.spherical:
                self._flat = faiss.IndexFlatIP(self.n_features)
            else:
                self._flat = faiss.IndexFlatL2(self.n_features)
        self._flat.reset()
        self._flat.add(centroids)
        self.index = self._flat

    def _build_hnsw(self, centroids):
        if self.gpu:
            logger.info("HNSW assignment runs on the CPU (FAISS has no GPU HNSW index).")
        index = faiss.IndexHNSWFlat(self.n_features, self.ann.hnsw_m, self.metric)
        index.hnsw.efConstruction = self.ann.ef_construction
        index.hnsw.efSearch = self.ann.ef_search
        if self.ann.deterministic_build:
            with _OMP_LOCK:
                threads = faiss.omp_get_max_threads()
                faiss.omp_set_num_threads(1)
                try:
                    index.add(centroids)
                finally:
                    faiss.omp_set_num_threads(threads)
        else:
            index.add(centroids)
        return index

    def _refresh_hnsw(self, centroids):
        """Move the vectors stored in the graph to ``centroids``, keeping the links."""
        storage = faiss.downcast_index(self.index.storage)
        stored = faiss.rev_swig_ptr(storage.get_xb(), centroids.size)
        stored[:] = centroids.ravel()

    def _build_ivf(self, centroids):
        k = centroids.shape[0]
        nlist = min(self.ann.nlist or default_nlist(k), k)
        quantizer = (
            faiss.IndexFlatIP(self.n_features)
            if self.spherical
            else faiss.IndexFlatL2(self.n_features)
        )
        index = faiss.IndexIVFFlat(quantizer, self.n_features, nlist, self.metric)
        # The coarse k-means runs on the k centroids themselves: fewer than FAISS's 39
        # points per list is expected here, not a warning. Its seed is FAISS's fixed one,
        # so every participant trains the same coarse quantizer.
        index.cp.min_points_per_centroid = 1
        index.cp.max_points_per_centroid = 1 << 30
        index.train(centroids)
        index.add(centroids)
        index.nprobe = min(self.ann.nprobe, nlist)
        if self.gpu:
            from bigseg.kmeans.gpu import to_gpu

            index = to_gpu(index, self.device)
        return index

    def search(self, X, out=None):
        n = X.shape[0]
        sqdist, labels = _as_search_out(n, out)
        if n == 0:
            return sqdist, labels
        self.index.search(X, 1, D=sqdist.reshape(n, 1), I=labels.reshape(n, 1))
        if self.spherical:
            # inner product of unit vectors -> squared distance on the sphere
            np.multiply(sqdist, -2.0, out=sqdist)
            sqdist += 2.0
        # L2 via ||x||^2 + ||c||^2 - 2<x, c> can round below 0 for a point on a centroid.
        np.maximum(sqdist, 0.0, out=sqdist)
        # An approximate search can find nothing (label -1) when the graph / lists are too
        # sparse; those points fall back to exact search so every point has a centroid.
        if self.assignment != "exact":
            missing = np.flatnonzero(labels < 0)
            if missing.size:
                exact = make_assigner(
                    self.centroids,
                    assignment="exact",
                    backend="faiss-cpu",
                    spherical=self.spherical,
                )
                d2, lab = exact.search(np.ascontiguousarray(X[missing]))
                sqdist[missing] = d2
                labels[missing] = lab
        return sqdist, labels


def make_assigner(
    centroids: np.ndarray,
    *,
    assignment: str = "exact",
    backend: str = "faiss-cpu",
    spherical: bool = False,
    ann_params: dict | AnnParams | None = None,
    device: int | None = None,
):
    """Build an assigner over ``centroids`` (float32 (k, d); unit rows when spherical).

    ``assignment`` is ``"exact"``, ``"hnsw"`` or ``"ivf"`` (``"auto"`` is resolved from k);
    ``backend`` is ``"faiss-cpu"``, ``"faiss-gpu"`` or ``"torch"`` (``"auto"`` resolved);
    ``device`` is the CUDA ordinal of a GPU backend (None: 0, the first visible GPU).
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    if centroids.ndim != 2:
        raise ValueError(f"centroids must be 2-D (k, d), got shape {centroids.shape}.")
    assignment = resolve_assignment(assignment, centroids.shape[0])
    if backend == "torch" and assignment != "exact":
        raise ValueError(
            f"backend='torch' supports assignment='exact' only, got {assignment!r}; "
            "use backend='faiss-cpu' or 'faiss-gpu' for approximate assignment."
        )
    choice = choose_backend(backend, device=device, approximate=assignment != "exact")
    params = AnnParams.from_mapping(ann_params)
    if choice.backend == "torch":
        from bigseg.kmeans.torch_assign import TorchAssigner

        assigner = TorchAssigner(
            centroids.shape[1], spherical=spherical, device=choice.device_name
        )
    else:
        assigner = FaissAssigner(
            centroids.shape[1],
            assignment=assignment,
            gpu=choice.backend == "faiss-gpu",
            spherical=spherical,
            ann_params=params,
            device=choice.device or 0,
        )
    assigner.update(centroids)
    return assigner
