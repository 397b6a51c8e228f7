"""Jobs on the loopback standalone cluster: spark-submit with bigseg shipped to executors
that do not have it installed, and training that survives a worker killed mid-fit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from job_chain import REPO, check_chain, job_args

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SUBMIT_COMMON = [
    "source.synthetic.n_customers=300", "features.as_of=2026-01-01", "model.k=6",
    "model.max_iter=10", "spark.show_progress=false", "spark.shuffle_partitions=4",
]


@pytest.fixture(scope="module")
def python_without_bigseg(tmp_path_factory) -> Path:
    """A Python whose site-packages are this environment's, minus bigseg: a new venv with
    a path file to our site-packages (path entries do not run the .pth file that makes
    the editable bigseg importable)."""
    import site

    root = tmp_path_factory.mktemp("py-without-bigseg")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    found = list(root.glob("lib/python*/site-packages"))
    assert found, list(root.rglob("*"))[:20]
    ours = [p for p in site.getsitepackages() if Path(p, "pyspark").is_dir()]
    (found[0] / "bigseg_deps.pth").write_text("\n".join(ours) + "\n")
    python = root / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy, faiss, pyarrow, pandas; "
                            "import bigseg"], capture_output=True, text=True, cwd=root)
    # The premise of the test: dependencies import, bigseg does not.
    assert "No module named 'bigseg'" in probe.stderr, probe.stderr
    return python


@pytest.mark.timeout(2400)
def test_every_job_runs_with_spark_submit_on_executors_without_bigseg(
        idle_cluster, tmp_path, python_without_bigseg):
    from bigseg.shipping import build_zip

    package = build_zip(tmp_path / "dist")
    home = tmp_path / "home"
    spark_submit = Path(sys.executable).parent / "spark-submit"
    env = dict(os.environ, BIGSEG_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1",
               PYSPARK_PYTHON=str(python_without_bigseg),
               PYSPARK_DRIVER_PYTHON=sys.executable)

    def submit(job: str, *overrides: str) -> subprocess.CompletedProcess:
        cmd = [str(spark_submit), "--master", idle_cluster.state.master_url,
               "--py-files", str(package),
               "--conf", f"spark.pyspark.python={python_without_bigseg}",
               "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
               "--conf", "spark.ui.enabled=false",
               f"jobs/{job}.py", *job_args(SUBMIT_COMMON, overrides)]
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=900)

    # The sweep is the python chain's; here every job runs once.
    check_chain(home, submit)
    # The executors really ran on the cluster, with the interpreter that lacks bigseg.
    logs = "".join(p.read_text(errors="replace")
                   for p in Path(idle_cluster.state.workdir).rglob("stderr"))
    assert str(python_without_bigseg) in logs or "bigseg-0.1.0.zip" in logs


def _blobs(spark, path: Path, n: int, d: int) -> None:
    from pyspark.sql import functions as F

    centre = F.col("id") % 64
    cols = [(centre * (j % 7 + 1) % 13).cast("float") + F.randn(seed=j) * 0.3
            for j in range(d)]
    (spark.range(0, n, numPartitions=2)
     .select(F.array(*[c.cast("float") for c in cols]).alias("features"))
     .write.parquet(str(path)))


def _long_stage_on_all_slots(sc, since: dict, seconds: float = 3.0) -> bool:
    """True once one stage has kept both task slots busy for ``seconds``: the barrier
    stage (the sampling stages before it take well under a second each)."""
    tracker = sc.statusTracker()
    now = time.monotonic()
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None and info.numTasks == 2 and info.numActiveTasks == 2:
            if now - since.setdefault(stage_id, now) >= seconds:
                return True
        else:
            since.pop(stage_id, None)
    return False


def test_training_survives_a_worker_killed_mid_fit(cluster_spark, local_cluster, tmp_path):
    from bigseg.spark import FaissKMeans

    _blobs(cluster_spark, tmp_path / "blobs", 200_000, 32)
    df = cluster_spark.read.parquet(str(tmp_path / "blobs"))
    estimator = FaissKMeans(k=1024, maxIter=25, tol=0.0, seed=11, numWorkers=2,
                            assignment="exact")
    undisturbed = estimator.fit(df)

    result: dict = {}

    def fit() -> None:
        try:
            result["model"] = estimator.fit(df)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            result["error"] = exc

    worker = local_cluster.state.worker_pids[0]
    thread = threading.Thread(target=fit)
    thread.start()
    deadline = time.monotonic() + 300
    since: dict = {}
    while not _long_stage_on_all_slots(cluster_spark.sparkContext, since):
        assert thread.is_alive() and time.monotonic() < deadline, (
            "no barrier stage ran", result.get("error"))
        time.sleep(0.1)
    assert thread.is_alive(), "training ended before the worker could be killed"
    local_cluster.kill_worker(worker)
    # A replacement worker, as a cluster manager would bring back.
    local_cluster.start_worker(len(local_cluster.state.worker_pids))
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    model = result["model"]
    np.testing.assert_allclose(model.centroids, undisturbed.centroids, rtol=1e-5, atol=1e-6)
    assert model.summary.trainingCost == pytest.approx(undisturbed.summary.trainingCost,
                                                       rel=1e-6)
