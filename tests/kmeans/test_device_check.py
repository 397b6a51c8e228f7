"""benchmarks/device_check.py --smoke: the device machine's check script, run on a CPU.

The script is run as the device machine runs it (a subprocess, output under $OUT); on a
CPU its GPU rows are skipped with the reason, and torch on the CPU stands in as the
compared candidate so the comparison code runs too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "device_check.py"

pytest.importorskip("torch")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _run(tmp_path: Path, *args: str) -> dict:
    env = dict(os.environ, OUT=str(tmp_path))
    subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", *args], env=env, cwd=tmp_path, check=True,
        timeout=600,
    )
    written = sorted(tmp_path.glob("device-check-*.json"))
    assert len(written) == 1
    return json.loads(written[0].read_text())


def _rows(report: dict, **match) -> list[dict]:
    return [r for r in report["results"] if all(r.get(k) == v for k, v in match.items())]


def test_smoke_writes_the_report_with_timings_and_comparisons(tmp_path):
    report = _run(tmp_path)
    assert report["command"] == "python3 benchmarks/device_check.py --smoke"
    assert report["mode"] == "smoke" and report["impl"] == "bigseg"
    assert report["sizes"]["ks"] == [32, 256] and report["sizes"]["n"] == 20_000
    machine = report["machine"]
    for key in ("hostname", "cpu_count", "numpy", "torch", "torch_cuda", "nvidia_smi", "faiss"):
        assert key in machine
    for k in (32, 256):
        (ref,) = _rows(report, k=k, system="faiss-cpu")
        assert ref["status"] == "ok" and ref["scope"] == "subsample" and ref["n_points"] == 8000
        assert ref["n_iter"] == 3 and len(ref["iterations"]) == 3
        assert ref["extrapolated"]["to_n_points"] == 20_000
        assert ref["extrapolated"]["seconds_per_iteration"] == pytest.approx(
            ref["seconds_per_iteration"] * 20_000 / 8000
        )
        assert ref["gflops_search"] == pytest.approx(
            2 * 8000 * k * 16 / ref["search_seconds_per_iteration"] / 1e9
        )
        assert ref["subsample_reason"].startswith("8000 points: projected")
        # torch on the CPU stands in for the GPU where there is none
        candidate = "torch-cuda" if _cuda() else "torch-cpu"
        scopes = {r["scope"] for r in _rows(report, k=k, system=candidate)}
        assert scopes == {"subsample", "full"}
        (cmp,) = [c for c in report["comparisons"] if (c["k"], c["candidate"]) == (k, candidate)]
        assert (cmp["reference"], cmp["candidate"], cmp["n_points"]) == (
            "faiss-cpu", candidate, 8000
        )
        # exact search on both: the same labels (blob data has no float ties at this size)
        assert cmp["label_agreement"] == 1.0 and cmp["assign_agreement"] == 1.0
        assert cmp["centroid_max_abs_diff"] < 1e-4 and abs(cmp["inertia_rel_diff"]) < 1e-5
        from bigseg.kmeans.gpu import faiss_gpu_count

        if faiss_gpu_count() == 0:
            (faiss_gpu,) = _rows(report, k=k, system="faiss-gpu")
            assert faiss_gpu["status"] == "skipped"
            assert faiss_gpu["reason"].startswith("faiss.get_num_gpus() is 0")
        if not _cuda():
            (cuda,) = _rows(report, k=k, system="torch-cuda")
            assert cuda == {"k": k, "system": "torch-cuda", "status": "skipped",
                            "reason": "torch.cuda.is_available() is False"}


def test_standalone_torch_and_the_cpu_time_box(tmp_path):
    """Where FAISS is missing (the device machine without the carried wheel)."""
    report = _run(tmp_path, "--standalone", "--cpu-budget-s", "0.000001", "--ks", "64")
    assert report["impl"] == "standalone-torch"
    (ref,) = _rows(report, k=64, system="torch-cpu")
    # the probe projects past the budget: the subsample shrinks to the probe, and says so
    assert ref["n_points"] == 1000
    assert ref["subsample_reason"].startswith("1000 points instead of 8000")
    assert ref["inertia"] > 0 and ref["impl"] == "standalone-torch"
    assert all(r["system"] != "faiss-gpu" for r in report["results"])
