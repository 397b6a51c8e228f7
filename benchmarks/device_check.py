"""GPU against CPU k-means on the device machine (one H200, 16 cores): issue #10's check.

What it does, for k = 4,096 and 65,536 on 10M x 64 float32 blob points (fixed seed, the
same initial centroids for every system, ``--iters`` Lloyd iterations with tol=0, exact
assignment):

1. the CPU reference (bigseg's ``lloyd`` with faiss-cpu, all cores) on a subsample S
   (default the first 1M points; shrunk, and said so, where a timed probe projects it
   past ``--cpu-budget-s``); its time per iteration is also extrapolated linearly in
   points to all n, and labelled so;
2. each GPU system (torch on CUDA; faiss-gpu where FAISS sees a GPU) on the same S from
   the same start: label agreement (of one search from the initial centroids, and of the
   final labels), centroid max abs difference, inertia relative difference;
3. each GPU system on all n points: seconds per iteration (and of its search alone),
   points/s and GFLOP/s (2 n k d per iteration), peak GPU memory.

Exact search agrees across backends up to float ties (GPU and CPU sum the dot products
in different orders), so label agreement is ~1 but not always exactly 1.

On the device machine there is no FAISS (no faiss-gpu wheel for its CUDA 13 stack, and
the faiss-cpu wheel must be carried); it has torch, numpy, scipy and threadpoolctl, all
that bigseg.kmeans needs besides FAISS. Run there, from the repository root, as one
command (device `run` with carry [".whl"] and timeout_s 600):

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site || exit; \
    PYTHONUNBUFFERED=1 python3 benchmarks/device_check.py --commit <git sha> 2>&1 \
        | tee $OUT/device-check.log

after preparing `.whl` here once (18 MB):

    echo /.whl/ >> .git/info/exclude
    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 -d .whl faiss-cpu==1.15.1

Without FAISS it still runs: torch on CUDA against torch on the CPU, with a small
torch implementation of the same Lloyd step (``impl: standalone-torch`` in the rows);
without torch or CUDA, the GPU rows say why they are missing. CuPy is not needed.

The JSON goes to ``$OUT`` (default benchmarks/results/) as device-check-<stamp>.json,
with the command line, the machine (nvidia-smi, torch / CUDA versions) and the results;
progress is logged. At most about 6 minutes on the device machine: each CPU reference
run is time-boxed to ``--cpu-budget-s`` (120 s), the GPU runs take seconds to tens of
seconds each, and ``--deadline-s`` (420 s) skips what would start after it. Copy the JSON
and the log into benchmarks/results/ afterwards.
Locally, on a CPU, ``--smoke`` runs tiny sizes in seconds (tests run it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # bigseg from this checkout, as on the device machine

log = logging.getLogger("bigseg.benchmarks.device_check")

RESULTS = REPO / "benchmarks" / "results"
# faiss-cpu's exact search costs more than its GEMM: measured here as a fixed factor on
# top of the probe's search time for the whole Lloyd iteration (statistics, update).
ITERATION_OVERHEAD = 1.25
# Points of S whose labels from one search from the initial centroids are compared (a
# whole extra search of S at k=65,536 on the CPU would cost as much as an iteration).
AGREE_POINTS = 100_000


@dataclass
class Sizes:
    n: int
    d: int
    ks: tuple[int, ...]
    iters: int
    cpu_points: int
    centers: int
    cpu_budget_s: float
    deadline_s: float


FULL = Sizes(
    n=10_000_000,
    d=64,
    ks=(4_096, 65_536),
    iters=3,
    cpu_points=1_000_000,
    centers=512,
    cpu_budget_s=120.0,
    deadline_s=420.0,
)
SMOKE = Sizes(
    n=20_000, d=16, ks=(32, 256), iters=3, cpu_points=8_000, centers=24, cpu_budget_s=60.0,
    deadline_s=300.0,
)


# -- the machine ------------------------------------------------------------------------


def _run_text(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _git_commit() -> str | None:
    text = _run_text(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    return text.strip() if text else None


def machine_info() -> dict:
    info: dict = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "nvidia_smi": _run_text(["nvidia-smi"]),
        "nvidia_smi_query": _run_text(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm",
                "--format=csv",
            ]
        ),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cuda_available"] = bool(torch.cuda.is_available())
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            # full float32 products (no TF32), as bigseg's torch backend runs them
            torch.backends.cuda.matmul.allow_tf32 = False
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = {
                "name": props.name,
                "memory_bytes": props.total_memory,
                "capability": f"{props.major}.{props.minor}",
                "multiprocessors": props.multi_processor_count,
            }
            info["allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
            info["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    except ImportError as exc:
        info["torch"] = None
        info["torch_missing"] = str(exc)
    try:
        import cupy

        info["cupy"] = cupy.__version__
    except Exception as exc:  # noqa: BLE001 - recorded, never needed
        info["cupy"] = None
        info["cupy_missing"] = f"{type(exc).__name__}: {exc}"
    try:
        import faiss

        info["faiss"] = faiss.__version__
        info["faiss_threads"] = faiss.omp_get_max_threads()
        info["faiss_gpus"] = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except ImportError as exc:
        info["faiss"] = None
        info["faiss_missing"] = str(exc)
    return info


# -- data -------------------------------------------------------------------------------


def make_blobs(sizes: Sizes, seed: int) -> np.ndarray:
    """float32 (n, d) gaussian blobs (unit spread) around centres in [-10, 10]^d."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(sizes.centers, sizes.d)).astype(np.float32)
    X = rng.standard_normal((sizes.n, sizes.d), dtype=np.float32)
    block = 1 << 20
    for start in range(0, sizes.n, block):  # no (n, d) temporary for the means
        stop = min(sizes.n, start + block)
        X[start:stop] += means[rng.integers(0, sizes.centers, size=stop - start)]
    return X


def initial_centroids(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k distinct rows of X, the same for every system."""
    rng = np.random.default_rng([seed, k])
    return np.ascontiguousarray(X[np.sort(rng.choice(X.shape[0], size=k, replace=False))])


# -- the systems ------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    name: str
    backend: str  # bigseg backend
    device: int | None  # CUDA ordinal, None: CPU

    @property
    def on_gpu(self) -> bool:
        return self.device is not None


SYSTEMS = {
    "faiss-cpu": System("faiss-cpu", "faiss-cpu", None),
    "torch-cpu": System("torch-cpu", "torch", None),
    "torch-cuda": System("torch-cuda", "torch", 0),
    "faiss-gpu": System("faiss-gpu", "faiss-gpu", 0),
}


def bigseg_importable() -> str | None:
    """None where bigseg.kmeans (which needs FAISS) imports, else why not."""
    try:
        import bigseg.kmeans  # noqa: F401
    except ImportError as exc:
        return f"bigseg.kmeans cannot be imported: {exc}"
    return None


def unavailable(system: System, impl: str) -> str | None:
    """Why ``system`` cannot run here (None: it can)."""
    if system.backend == "torch":
        try:
            import torch
        except ImportError:
            return "torch is not installed"
        if system.on_gpu and not torch.cuda.is_available():
            return "torch.cuda.is_available() is False"
        if not system.on_gpu and impl == "bigseg" and torch.cuda.is_available():
            return "bigseg's torch backend takes the GPU where it sees one: not a CPU run here"
        return None
    if impl != "bigseg":
        return "FAISS is not importable (carry the faiss-cpu wheel: see this script's header)"
    if system.backend == "faiss-gpu":
        from bigseg.kmeans.gpu import faiss_gpu_count

        if faiss_gpu_count() == 0:
            return "faiss.get_num_gpus() is 0: a CPU-only FAISS build (no faiss-gpu wheel here)"
    return None


@dataclass
class Run:
    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    history: list[dict]
    seconds: float
    peak_gpu_bytes: int | None


def _gpu_peak_reset(system: System) -> None:
    if system.on_gpu:
        import torch

        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _gpu_peak(system: System) -> int | None:
    if not system.on_gpu:
        return None
    import torch

    # torch's allocator only: FAISS GPU memory is not counted
    return int(torch.cuda.max_memory_allocated())


def run_lloyd(system: System, impl: str, X: np.ndarray, init: np.ndarray, iters: int) -> Run:
    """``iters`` Lloyd iterations (tol=0, exact) and the final assignment."""
    _gpu_peak_reset(system)
    t0 = time.perf_counter()
    if impl == "bigseg":
        from bigseg.kmeans.lloyd import lloyd

        res = lloyd(
            X, init, max_iter=iters, tol=0.0, assignment="exact", backend=system.backend,
            device=system.device, seed=0,
        )
        run = Run(res.centroids, res.labels, res.inertia, res.history, 0.0, None)
    else:
        run = standalone_lloyd(system, X, init, iters)
    run.seconds = time.perf_counter() - t0
    run.peak_gpu_bytes = _gpu_peak(system)
    return run


def assign_once(system: System, impl: str, X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Labels of one exact search of X against ``centroids``."""
    if impl == "bigseg":
        from bigseg.kmeans.assign import make_assigner

        assigner = make_assigner(
            centroids, assignment="exact", backend=system.backend, device=system.device
        )
        return assigner.search(X)[1]
    return _torch_search(system, X, centroids)[1]


# -- a small torch Lloyd, for a machine without FAISS (and so without bigseg.kmeans) ---


def _torch_device(system: System):
    import torch

    return torch.device("cpu" if system.device is None else f"cuda:{system.device}")


def _torch_search(system: System, X: np.ndarray, centroids: np.ndarray, tile: int = 1 << 27):
    """(sqdist float32, labels int64) by chunks of rows: ||c||^2 - 2<x, c> + ||x||^2."""
    import torch

    dev = _torch_device(system)
    C = torch.from_numpy(np.ascontiguousarray(centroids)).to(dev)
    c_norm = (C * C).sum(1)
    rows = max(256, tile // C.shape[0])
    d2 = np.empty(X.shape[0], dtype=np.float32)
    labels = np.empty(X.shape[0], dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, X.shape[0], rows):
            x = torch.from_numpy(X[start : start + rows]).to(dev)
            best, idx = torch.min(torch.addmm(c_norm, x, C.T, alpha=-2.0), dim=1)
            d2[start : start + rows] = (best + (x * x).sum(1)).clamp_min(0).cpu().numpy()
            labels[start : start + rows] = idx.cpu().numpy()
    return d2, labels


def standalone_lloyd(system: System, X: np.ndarray, init: np.ndarray, iters: int) -> Run:
    """Lloyd with float64 sums; an empty cluster keeps its centroid (bigseg splits one)."""
    import torch

    C = init.copy()
    history = []
    for it in range(1, iters + 1):
        t0 = time.perf_counter()
        d2, labels = _torch_search(system, X, C)
        t_search = time.perf_counter() - t0
        sums = torch.zeros((C.shape[0], C.shape[1]), dtype=torch.float64)
        for start in range(0, X.shape[0], 1 << 20):  # no float64 copy of all of X
            block = slice(start, start + (1 << 20))
            sums.index_add_(0, torch.from_numpy(labels[block]),
                            torch.from_numpy(X[block]).double())
        counts = np.bincount(labels, minlength=C.shape[0]).astype(np.float64)
        new = C.astype(np.float64)
        full = counts > 0
        new[full] = sums.numpy()[full] / counts[full, None]
        C = new.astype(np.float32)
        history.append(
            {
                "iteration": it,
                "objective": float(d2.sum(dtype=np.float64)),
                "seconds": time.perf_counter() - t0,
                "search_seconds": t_search,
            }
        )
    d2, labels = _torch_search(system, X, C)
    return Run(C, labels, float(d2.sum(dtype=np.float64)), history, 0.0, None)


# -- rows -------------------------------------------------------------------------------


def timing_row(k: int, system: System, impl: str, scope: str, X: np.ndarray, run: Run,
               full_n: int) -> dict:
    n, d = X.shape
    iters = run.history
    # the first iteration carries one-off costs (index build, CUDA kernels' first use):
    # the medians are over the later ones where there are any
    steady = iters[1:] or iters
    per_iter = float(np.median([h["seconds"] for h in steady]))
    search = float(np.median([h["search_seconds"] for h in steady]))
    flop = 2.0 * n * k * d
    row = {
        "k": k,
        "system": system.name,
        "backend": system.backend,
        "device": "cpu" if system.device is None else f"cuda:{system.device}",
        "impl": impl,
        "scope": scope,
        "status": "ok",
        "n_points": n,
        "d": d,
        "n_iter": len(iters),
        "iterations": [
            {key: h.get(key) for key in ("iteration", "objective", "seconds", "search_seconds")}
            for h in iters
        ],
        "seconds_total": run.seconds,
        "seconds_per_iteration": per_iter,
        "search_seconds_per_iteration": search,
        "points_per_s": n / per_iter,
        "search_points_per_s": n / search,
        "gflops_iteration": flop / per_iter / 1e9,
        "gflops_search": flop / search / 1e9,
        "inertia": run.inertia,
        "peak_gpu_bytes": run.peak_gpu_bytes,
    }
    if n < full_n:
        row["extrapolated"] = {
            "to_n_points": full_n,
            "seconds_per_iteration": per_iter * full_n / n,
            "basis": f"linear in points from {n} measured (exact search is O(n k d))",
        }
    return row


def compare(k: int, ref_name: str, ref: Run, cand_name: str, cand: Run, n: int,
            first: tuple[np.ndarray, np.ndarray]) -> dict:
    differ = int(np.count_nonzero(ref.labels != cand.labels))
    objectives = [
        (c["objective"] - r["objective"]) / r["objective"]
        for r, c in zip(ref.history, cand.history, strict=False)
    ]
    return {
        "k": k,
        "reference": ref_name,
        "candidate": cand_name,
        "n_points": n,
        "assign_agreement_points": int(first[0].size),
        "assign_agreement": float(np.mean(first[0] == first[1])),
        "label_agreement": 1.0 - differ / n,
        "labels_differ": differ,
        "centroid_max_abs_diff": float(
            np.max(np.abs(ref.centroids.astype(np.float64) - cand.centroids))
        ),
        "inertia_rel_diff": (cand.inertia - ref.inertia) / ref.inertia,
        "objective_rel_diff_per_iteration": objectives,
    }


# -- the check --------------------------------------------------------------------------


class Clock:
    def __init__(self, deadline_s: float):
        self.t0 = time.perf_counter()
        self.deadline_s = deadline_s

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def over(self) -> str | None:
        if self.elapsed > self.deadline_s:
            return f"skipped: {self.elapsed:.0f} s elapsed, past --deadline-s={self.deadline_s:.0f}"
        return None


def _cpu_points(ref: System, impl: str, X: np.ndarray, init: np.ndarray, sizes: Sizes) -> tuple[int, str]:
    """Points of S: ``cpu_points``, or fewer where a timed search projects past the budget."""
    want = min(sizes.cpu_points, X.shape[0])
    probe = min(want, 20_000, max(1_000, want // 8))
    t0 = time.perf_counter()
    assign_once(ref, impl, X[:probe], init)
    per_point = (time.perf_counter() - t0) / probe
    searches = sizes.iters + 1 + AGREE_POINTS / max(want, 1)
    projected = per_point * want * searches * ITERATION_OVERHEAD
    if projected <= sizes.cpu_budget_s:
        return want, f"{want} points: projected {projected:.0f} s from a {probe}-point probe"
    fit = int(sizes.cpu_budget_s / (per_point * searches * ITERATION_OVERHEAD))
    # never below 2 points per centroid: Lloyd needs n >= k, and timings need a few more
    fit = min(want, max(probe, 2 * init.shape[0], fit // 10_000 * 10_000))
    return fit, (
        f"{fit} points instead of {want}: {want} projected {projected:.0f} s from a "
        f"{probe}-point probe, over --cpu-budget-s={sizes.cpu_budget_s:.0f}"
    )


def _safely(rows: list, k: int, system: System, what: str, fn):
    """fn(), or None with an error row (the check goes on without that system)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one failed system must not end the check
        log.error("k=%d %s (%s) failed:\n%s", k, system.name, what, traceback.format_exc())
        rows.append({"k": k, "system": system.name, "scope": what, "status": "error",
                     "reason": f"{type(exc).__name__}: {exc}"})
        return None


def check_k(k: int, X: np.ndarray, sizes: Sizes, impl: str, candidates: list[System],
            seed: int, clock: Clock, report: dict, *, full_on_cpu: bool = False) -> None:
    """One k: the CPU reference on S, each candidate on S (compared), GPUs on all n.

    ``full_on_cpu`` also times CPU candidates on all n (smoke runs, so the path is tested).
    """
    rows, comparisons = report["results"], report["comparisons"]
    ref = SYSTEMS["faiss-cpu"] if impl == "bigseg" else SYSTEMS["torch-cpu"]
    init = initial_centroids(X, k, seed)
    late = clock.over()
    if late:
        rows.append({"k": k, "system": ref.name, "status": "skipped", "reason": late})
        return
    n_cpu, why = _cpu_points(ref, impl, X, init, sizes)
    S = X[:n_cpu]
    log.info("k=%d: CPU reference %s on %s", k, ref.name, why)
    ref_run = _safely(rows, k, ref, "subsample", lambda: run_lloyd(ref, impl, S, init, sizes.iters))
    if ref_run is None:
        return
    row = timing_row(k, ref, impl, "subsample", S, ref_run, sizes.n)
    row["subsample_reason"] = why
    rows.append(row)
    _log_row(row)
    agree = S[: min(n_cpu, AGREE_POINTS)]
    ref_first = assign_once(ref, impl, agree, init)
    warm = S[: min(n_cpu, max(50_000, 2 * k))]
    for system in candidates:
        reason = unavailable(system, impl) or clock.over()
        if reason:
            rows.append({"k": k, "system": system.name, "status": "skipped", "reason": reason})
            log.info("k=%d %s skipped: %s", k, system.name, reason)
            continue
        if system.on_gpu:  # CUDA context, cuBLAS handles and kernels: not timed
            _safely(rows, k, system, "warm-up", lambda s=system: run_lloyd(s, impl, warm, init, 1))
        run = _safely(rows, k, system, "subsample",
                      lambda s=system: run_lloyd(s, impl, S, init, sizes.iters))
        if run is None:
            continue
        row = timing_row(k, system, impl, "subsample", S, run, sizes.n)
        rows.append(row)
        _log_row(row)
        first = (ref_first, assign_once(system, impl, agree, init))
        comparison = compare(k, ref.name, ref_run, system.name, run, n_cpu, first)
        comparisons.append(comparison)
        log.info(
            "k=%d %s vs %s on %d points: labels agree %.6f (one search from the start: %.6f), "
            "centroids max |diff| %.3g, inertia rel diff %.3g",
            k, system.name, ref.name, n_cpu, comparison["label_agreement"],
            comparison["assign_agreement"], comparison["centroid_max_abs_diff"],
            comparison["inertia_rel_diff"],
        )
        if not (system.on_gpu or full_on_cpu):
            continue
        late = clock.over()
        if late:
            rows.append({"k": k, "system": system.name, "scope": "full", "status": "skipped",
                         "reason": late})
            continue
        full = _safely(rows, k, system, "full",
                       lambda s=system: run_lloyd(s, impl, X, init, sizes.iters))
        if full is not None:
            row = timing_row(k, system, impl, "full", X, full, sizes.n)
            rows.append(row)
            _log_row(row)


def _log_row(row: dict) -> None:
    log.info(
        "k=%d %-10s %-9s n=%-9d %.3f s/iteration (search %.3f s), %.3g points/s, "
        "%.0f GFLOP/s search%s",
        row["k"], row["system"], row["scope"], row["n_points"], row["seconds_per_iteration"],
        row["search_seconds_per_iteration"], row["points_per_s"], row["gflops_search"],
        f"; at n={row['extrapolated']['to_n_points']}: "
        f"{row['extrapolated']['seconds_per_iteration']:.1f} s/iteration (extrapolated)"
        if "extrapolated" in row else "",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes; runs on a CPU in seconds")
    p.add_argument("--standalone", action="store_true",
                   help="use the small torch Lloyd even where bigseg.kmeans imports")
    p.add_argument("--n", type=int, help="points (default 10M; smoke 20k)")
    p.add_argument("--ks", type=int, nargs="+", help="cluster counts (default 4096 65536)")
    p.add_argument("--iters", type=int, help="Lloyd iterations per run (default 3)")
    p.add_argument("--cpu-points", type=int, help="points of the CPU subsample (default 1M)")
    p.add_argument("--cpu-budget-s", type=float, help="seconds for one CPU reference run")
    p.add_argument("--deadline-s", type=float, help="start nothing after this many seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--commit", help="the git commit checked (recorded; git may be missing)")
    p.add_argument("--out", help="output folder (default $OUT, else benchmarks/results)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader's INFO lines
    logging.getLogger("bigseg.kmeans").setLevel(logging.WARNING)  # "stopped after max_iter"
    args = parse_args(argv)
    base = SMOKE if args.smoke else FULL
    sizes = Sizes(
        n=args.n or base.n,
        d=base.d,
        ks=tuple(args.ks or base.ks),
        iters=args.iters or base.iters,
        cpu_points=args.cpu_points or base.cpu_points,
        centers=base.centers,
        cpu_budget_s=args.cpu_budget_s or base.cpu_budget_s,
        deadline_s=args.deadline_s or base.deadline_s,
    )
    out_dir = Path(args.out or os.environ.get("OUT") or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    clock = Clock(sizes.deadline_s)
    missing = bigseg_importable()
    impl = "standalone-torch" if args.standalone or missing else "bigseg"
    if missing:
        log.warning("%s; running the standalone torch Lloyd", missing)
    candidates = [SYSTEMS["torch-cuda"], SYSTEMS["faiss-gpu"]]
    if args.smoke and impl == "bigseg":
        candidates.insert(0, SYSTEMS["torch-cpu"])  # so a CPU-only run compares something
    if impl != "bigseg":
        candidates = [SYSTEMS["torch-cuda"]]  # against the torch-cpu reference
    report: dict = {
        "check": "device_check",
        "command": shlex.join(["python3", "benchmarks/device_check.py", *sys.argv[1:]])
        if argv is None else shlex.join(["python3", "benchmarks/device_check.py", *argv]),
        "argv": sys.argv if argv is None else argv,
        "mode": "smoke" if args.smoke else "full",
        "started": started.isoformat(),
        "git_commit": args.commit or _git_commit(),
        "impl": impl,
        "impl_reason": missing,
        "sizes": sizes.__dict__ | {"ks": list(sizes.ks)},
        "seed": args.seed,
        "machine": machine_info(),
        "results": [],
        "comparisons": [],
        "notes": [
            "exact assignment everywhere; GPU and CPU agree up to float ties",
            "medians over iterations 2.. (the first carries one-off costs)",
            "CPU rows run on a subsample; their 'extrapolated' is linear in points",
            "GFLOP/s counts 2 n k d per iteration (the distance products only)",
        ],
    }
    log.info("device check (%s, %s): %s", report["mode"], impl, sizes)
    t0 = time.perf_counter()
    X = make_blobs(sizes, args.seed)
    report["data_seconds"] = time.perf_counter() - t0
    log.info("data: %d x %d float32 blobs in %.1f s", sizes.n, sizes.d, report["data_seconds"])
    for k in sizes.ks:
        check_k(k, X, sizes, impl, candidates, args.seed, clock, report,
                full_on_cpu=args.smoke)
    report["wall_seconds"] = clock.elapsed
    path = out_dir / f"device-check-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    log.info("wrote %s (%.0f s in all)", path, report["wall_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
