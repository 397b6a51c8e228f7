"""The loopback standalone cluster: started from the pyspark package, used by
spark-submit, stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bigseg.cluster import LocalCluster, load_state

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.cluster


def test_workers_registered(local_cluster):
    info = local_cluster.master_info()
    alive = [w for w in info["workers"] if w["state"] == "ALIVE"]
    assert info["status"] == "ALIVE"
    assert len(alive) == 2
    assert all(w["cores"] == 1 for w in alive)


def test_spark_submit_doctor_passes_against_the_cluster(idle_cluster, tmp_path):
    local_cluster = idle_cluster
    spark_submit = Path(sys.executable).parent / "spark-submit"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run(
        [str(spark_submit), "--master", local_cluster.state.master_url,
         "--conf", "spark.executor.memory=1g", "--conf", "spark.ui.enabled=false",
         "jobs/doctor.py", f"paths.root={tmp_path}", "doctor.probe_tasks=2",
         "spark.show_progress=false"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert f"master {local_cluster.state.master_url}" in proc.stdout
    assert "all 8 checks passed" in proc.stdout


def test_cluster_session_runs_tasks_on_workers(cluster_spark, local_cluster, tmp_path):
    from bigseg.config import compose
    from bigseg.doctor import run_checks

    cfg = compose("doctor", [f"paths.root={tmp_path}", "doctor.check_mlflow=false"])
    results = {r.name: r for r in run_checks(cfg, cluster_spark)}
    assert all(r.ok for r in results.values()), results
    assert local_cluster.state.master_url in results["spark"].detail
    apps = local_cluster.master_info()["activeapps"]
    assert any(a["name"] == "bigseg-cluster-tests" for a in apps)


def test_script_starts_reports_and_stops_a_cluster(tmp_path):
    from bigseg.cluster import free_port

    script = REPO / "scripts" / "local-cluster"
    args = ["--dir", str(tmp_path), "--port", str(free_port()),
            "--webui-port", str(free_port()), "--workers", "1", "--memory", "512m"]
    env = dict(os.environ, BIGSEG_PYTHON=sys.executable)
    started = subprocess.run([str(script), "start", *args], env=env, capture_output=True,
                             text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    state = load_state(tmp_path)
    try:
        status = subprocess.run([str(script), "status", "--dir", str(tmp_path)], env=env,
                                capture_output=True, text=True, timeout=60)
        assert "ALIVE, 1 workers alive" in status.stdout
    finally:
        stopped = subprocess.run([str(script), "stop", "--dir", str(tmp_path)], env=env,
                                 capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0
    assert load_state(tmp_path) is None
    for pid in [state.master_pid, *state.worker_pids]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_workers": 0}, "n_workers=0 should be >= 1"),
    ({"cores": 0}, "cores=0 should be >= 1"),
])
def test_bad_cluster_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalCluster(tmp_path, **kwargs)
