"""`bigseg doctor` against a real local SparkSession and real MLflow stores."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from bigseg.config import compose
from bigseg.doctor import format_table, run_checks, run_doctor

REPO = Path(__file__).resolve().parents[1]


def _cfg(tmp_path, *overrides):
    return compose("doctor", [f"paths.root={tmp_path}", *overrides])


def test_doctor_passes_on_local_spark(spark, tmp_path):
    out = io.StringIO()
    code = run_doctor(_cfg(tmp_path), spark=spark, out=out)
    text = out.getvalue()
    assert code == 0, text
    for check in ("java", "spark", "executors import bigseg+faiss", "faiss (executors)",
                  "gpus (executors)", "mlflow"):
        assert check in text
    assert "local[2]" in text
    assert f"sqlite:///{tmp_path}/mlflow/mlflow.db" in text
    assert (tmp_path / "mlflow" / "mlflow.db").exists()


def test_doctor_probe_reports_each_task(spark, tmp_path):
    results = {r.name: r for r in run_checks(_cfg(tmp_path, "doctor.probe_tasks=3"), spark)}
    probe = results["executors import bigseg+faiss"]
    assert probe.ok and probe.detail.startswith("3 tasks")
    assert sys.executable in probe.detail


def test_doctor_reaches_an_mlflow_server(spark, tmp_path, mlflow_server):
    import mlflow

    results = {r.name: r for r in run_checks(
        _cfg(tmp_path, f"tracking.uri={mlflow_server}", "doctor.check_executors=false"), spark)}
    assert results["mlflow"].ok, results["mlflow"].detail
    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("bigseg-doctor")
    runs = client.search_runs([experiment.experiment_id])
    assert runs and runs[0].data.metrics["doctor_ok"] == 1.0


def test_doctor_fails_with_one_line_reason_for_unreachable_mlflow(spark, tmp_path):
    from bigseg.cluster import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()
    code = run_doctor(_cfg(tmp_path, f"tracking.uri={uri}", "doctor.check_executors=false"),
                      spark=spark, out=out)
    assert code == 1
    failed = [line for line in out.getvalue().splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert failed[0].startswith(f"FAILED mlflow: {uri} is not reachable")


def test_format_table_lists_failures_last():
    from bigseg.doctor import CheckResult

    text = format_table([CheckResult("a", True, "fine"), CheckResult("bb", False, "broken")])
    assert text.splitlines()[-1] == "FAILED bb: broken"
    assert "bb  FAIL    broken" in text


@pytest.mark.slow
def test_doctor_job_entry_point_runs_with_hydra(tmp_path):
    proc = subprocess.run(
        [sys.executable, "jobs/doctor.py", "spark.master='local[1]'", f"paths.root={tmp_path}",
         "spark.show_progress=false"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all 8 checks passed" in proc.stdout
    assert "master local[1]" in proc.stdout
