"""The benchmark runner (`python -m benchmarks.run`) end to end on the tiny preset, and its
config errors at compose time.

Run as a subprocess from the repository root, as the README's command runs it: the
runner is a Hydra app with its own SparkSession.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KMEANS_SYSTEMS = {"bigseg-spark", "bigseg-core", "faiss", "sklearn", "mllib"}
ROW_FIELDS = {"system", "suite", "n", "d", "k", "workers", "workers_spec", "iterations",
              "per_iter_s", "total_s", "points_per_s", "gflops", "inertia"}


def run_bench(args: list[str], tmp_path: Path, timeout: int = 600, flags: tuple = ()):
    env = dict(os.environ, BIGSEG_HOME=str(tmp_path / "home"), PYSPARK_PYTHON=sys.executable)
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args, f"hydra.run.dir={tmp_path / 'hydra'}",
         *flags],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_tiny_preset_writes_every_output(tmp_path):
    import mlflow

    results = tmp_path / "results"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_bench(["preset=tiny", "skip=[features,pipeline]", f"results_dir={results}",
                      f"tracking_uri={uri}"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    folders = [p for p in results.iterdir() if p.is_dir()]
    assert [p.name.rsplit("-", 1)[0] for p in folders] == ["all-tiny"]
    folder = folders[0]
    payload = json.loads((folder / "results.json").read_text())
    assert payload == json.loads((results / "all-tiny-latest.json").read_text())
    assert {"git_commit", "machine", "versions"} <= set(payload)
    assert payload["machine"]["cores"] == os.cpu_count()
    assert "numpy" in payload["versions"]
    assert payload["summary"]["errors"] == {}

    # One kmeans row per system x grid point (n = 2000, 4000 at d=8, k=8), every field.
    kmeans = [r for r in payload["rows"] if r["suite"] == "kmeans"]
    assert sorted((r["system"], r["n"]) for r in kmeans) == sorted(
        (s, n) for s in KMEANS_SYSTEMS for n in (2000, 4000))
    for row in kmeans:
        assert ROW_FIELDS <= set(row), ROW_FIELDS - set(row)
        assert (row["d"], row["k"], row["iterations"]) == (8, 8, 2)
        assert row["points_per_s"] == pytest.approx(row["n"] / row["per_iter_s"])
        assert row["gflops"] == pytest.approx(2 * row["n"] * 8 * 8 / row["per_iter_s"] / 1e9)
    # Same data, same initial centroids, same iterations: the same inertia (within 2%).
    for n in (2000, 4000):
        inertias = [r["inertia"] for r in kmeans if r["n"] == n]
        assert max(inertias) / min(inertias) - 1 < 0.02, inertias
    assert payload["summary"]["kmeans"]["inertia_max_rel_diff"] < 0.02

    assign = [r for r in payload["rows"] if r["suite"] == "assign"]
    assert {r["system"] for r in assign} == {"bigseg-spark", "bigseg-core", "mllib"}
    for row in assign:
        if row["labels_inertia"] is not None:  # the bigseg systems label correctly
            assert row["labels_inertia"] == pytest.approx(row["inertia"], rel=1e-4)

    with open(folder / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == len(payload["rows"])
    assert ROW_FIELDS <= set(csv_rows[0])
    pngs = {p.name for p in folder.glob("*.png")}
    assert {"kmeans_time_vs_n.png", "kmeans_points_per_s.png"} <= pngs

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("bigseg-benchmarks")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_name == folder.name)
    assert parent.data.params["preset"] == "tiny"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.json", "results.csv", "kmeans_time_vs_n.png"} <= artifacts
    children = {r.info.run_name: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert {f"kmeans/{s}" for s in KMEANS_SYSTEMS} <= set(children)
    history = client.get_metric_history(children["kmeans/faiss"].info.run_id, "inertia")
    assert len(history) == 2  # one step per grid point


@pytest.mark.parametrize(("override", "message"), [
    ("suite=kmean", r"Invalid value 'kmean', expected one of \[kmeans, assign"),
    ("preset=quik", r"Could not find 'preset/quik'"),
    ("kmeans.iteration=3", r"Key 'iteration' not in 'KMeansSuiteConfig'"),
    ("kmeans.ks=[a]", r"Value 'a' of type 'str' could not be converted to Integer"),
    ("skip=[kmeans,assign,feature]", r"Invalid value 'feature'"),
])
def test_bad_config_fails_at_compose_time(override, message, tmp_path):
    proc = run_bench([override], tmp_path, timeout=120, flags=("--cfg", "job"))
    assert proc.returncode != 0
    assert proc.stderr.strip(), proc.stdout
    assert re.search(message, proc.stderr), proc.stderr[-2000:]


@pytest.mark.parametrize(("overrides", "message"), [
    (["kmeans.systems=[bigseg-spark,spark-ml]"],
     r"kmeans.systems has \['spark-ml'\]; known systems"),
    (["kmeans.ks=[8,5000]", "kmeans.ns=[4000]"], r"kmeans.ks=\[8, 5000\] should be <= "),
    (["workers=[yarn]"], r"workers entry 'yarn' should be 'local\[N\]' or"),
    (["suite=all", "skip=[kmeans,assign,features,pipeline]"], r"leaves no suite to run"),
])
def test_bad_values_fail_before_any_work(overrides, message, tmp_path):
    proc = run_bench(["preset=tiny", f"results_dir={tmp_path / 'results'}", *overrides],
                     tmp_path, timeout=120)
    assert proc.returncode != 0
    assert re.search(message, proc.stderr + proc.stdout), proc.stderr[-2000:]
    assert not (tmp_path / "results").exists()
