"""Run logging against a SQLite store and a real `mlflow server`: everything a job logs
is read back from the store."""

from __future__ import annotations

import uuid

import mlflow
import pytest
import yaml

from bigseg.config import compose
from bigseg.tracking import names
from bigseg.tracking.runs import child_run, flatten, input_digest, job_run, tracked_run

HISTORY = [
    {"iteration": 1, "objective": 90.0, "centroid_shift": 1.5, "n_changed": 300},
    {"iteration": 2, "objective": 60.0, "centroid_shift": 0.4, "n_changed": None},
    {"iteration": 3, "objective": 55.0, "centroid_shift": 0.01, "n_changed": 3},
]
INPUTS = {
    "transactions": {"rows": 1000, "xxhash64_sum": "00ab", "path": "/data/tx.parquet"},
    "customers": {"rows": 100, "xxhash64_sum": "ff01", "table": "crm.customers"},
}
COUNTS = {"transactions": {"rows_in": 1000, "rows_used": 990, "rows_quarantined": 10,
                           "rows_after_as_of": 0, "reasons": {"null_key": 6, "bad_ts": 4}}}


@pytest.fixture(params=["sqlite", "server"])
def where(request, tmp_path):
    """(uri, artifact location) of a fresh SQLite store, or of the shared server."""
    if request.param == "sqlite":
        return request.getfixturevalue("store"), request.getfixturevalue("artifacts")
    return request.getfixturevalue("mlflow_server"), None


def test_a_run_logs_everything(where, tmp_path):
    uri, artifact_location = where
    experiment = f"runs-{uuid.uuid4().hex[:8]}"
    cfg = compose("pipeline", [f"paths.root={tmp_path}", "model.k=5"])
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    with tracked_run(uri, experiment, "train", job="train",
                     artifact_location=artifact_location) as run:
        params = run.log_config(cfg)
        commit = run.log_git()
        digests = run.log_inputs(INPUTS)
        assert run.log_history(HISTORY) == 3
        run.log_quality({"inertia": 55.0, "silhouette": 0.4, "label": "not a number"})
        run.log_timings({"features": 2.0, "fit": 4.0}, rows={"fit": 1000})
        with run.stage("assign", rows=1000):
            pass
        run.log_quarantine(COUNTS)
        run.log_artifact(report, "reports")
        run.log_centroids([[0.0, 1.0], [2.0, 3.0]], [4, 7], ["recency", "monetary"])
        run_id = run.run_id

    client = mlflow.MlflowClient(uri)
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["model.k"] == "5" == params["model.k"]
    assert got.data.params["spark.conf"] == "{}"
    assert got.data.tags[names.TAG_JOB] == "train"
    config = yaml.safe_load(open(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="config.yaml", tracking_uri=uri)))
    assert config["model"]["k"] == 5 and config["paths"]["root"] == str(tmp_path)
    # The repository is a git checkout: its HEAD is recorded.
    assert commit and got.data.tags[names.TAG_GIT_COMMIT] == commit
    assert got.data.tags[names.TAG_GIT_DIRTY] in ("true", "false")

    logged = {d.dataset.name: d for d in got.inputs.dataset_inputs}
    assert set(logged) == set(INPUTS)
    for name, description in INPUTS.items():
        assert logged[name].dataset.digest == digests[name] == input_digest(description)
        tags = {t.key: t.value for t in logged[name].tags}
        assert tags["bigseg.rows"] == str(description["rows"])
        assert tags["mlflow.data.context"] == "training"
    assert '"/data/tx.parquet"' in logged["transactions"].dataset.source

    objective = client.get_metric_history(run_id, "iter/objective")
    assert [(m.step, m.value) for m in sorted(objective, key=lambda m: m.step)] == [
        (0, 90.0), (1, 60.0), (2, 55.0)]
    # None (jobs mode) is skipped, not logged as 0.
    assert [m.step for m in client.get_metric_history(run_id, "iter/n_changed")] == [0, 2]
    metrics = got.data.metrics
    assert metrics["quality/silhouette"] == 0.4 and "quality/label" not in metrics
    assert metrics["timing/fit_s"] == 4.0
    assert metrics["throughput/fit_rows_per_s"] == 250.0
    assert "timing/assign_s" in metrics and "throughput/assign_rows_per_s" in metrics
    assert metrics["quarantine/transactions.rows_quarantined"] == 10
    assert metrics["quarantine/transactions.reason.null_key"] == 6
    assert metrics["quarantine/transactions.share"] == pytest.approx(0.01)
    assert [a.path for a in client.list_artifacts(run_id, "reports")] == ["reports/report.md"]
    centroids = mlflow.artifacts.load_text(f"runs:/{run_id}/segments/centroids.csv")
    assert centroids.splitlines() == ["segment_id,recency,monetary", "4,0.0,1.0", "7,2.0,3.0"]


def test_sweep_is_a_parent_with_child_runs(store, artifacts):
    experiment = "sweep"
    with tracked_run(store, experiment, "k-sweep", job="sweep",
                     artifact_location=artifacts) as parent:
        parent.log_params({"sweep.k": [3, 4]})
        children = []
        for k in (3, 4):
            with child_run(parent, f"k={k}", store, experiment) as child:
                child.log_params({"model.k": k})
                child.log_quality({"inertia": 100.0 / k})
                children.append(child.run_id)
        parent.log_metrics({"best_k": 4}, family=names.QUALITY)
    client = mlflow.MlflowClient(store)
    found = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'")
    assert sorted(r.info.run_id for r in found) == sorted(children)
    assert {r.data.params["model.k"] for r in found} == {"3", "4"}
    assert {r.data.tags[names.TAG_SWEEP] for r in found} == {"child"}
    assert client.get_run(parent.run_id).data.metrics["quality/best_k"] == 4


def test_a_failing_block_marks_the_run_failed(store, artifacts):
    with pytest.raises(RuntimeError, match="boom"):
        with tracked_run(store, "fails", artifact_location=artifacts) as run:
            raise RuntimeError("boom")
    assert mlflow.MlflowClient(store).get_run(run.run_id).info.status == "FAILED"


def test_job_run_from_config_keeps_artifacts_beside_the_store(tmp_path, store_template):
    import shutil

    (tmp_path / "mlflow").mkdir()
    shutil.copy(store_template, tmp_path / "mlflow" / "mlflow.db")
    cfg = compose("pipeline", [f"paths.root={tmp_path}", "tracking.experiment=jobs"])
    with job_run(cfg.tracking, cfg.paths, "train") as run:
        run.log_config(cfg)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    got = client.get_run(run.run_id)
    assert got.data.tags[names.TAG_JOB] == "train" and got.info.run_name == "train"
    assert got.info.artifact_uri.startswith((tmp_path / "mlflow" / "artifacts").as_uri())
    assert (tmp_path / "mlflow" / "artifacts" / "jobs").is_dir()


def test_flatten_keeps_lists_and_empty_dicts():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {"a.b": 1, "a.c": [1, 2], "d": {}}


@pytest.mark.parametrize("key,expected", [
    ("quality/silhouette", "quality/silhouette"),
    ("size[3]", "size_3_"),
    ("a:b=c", "a_b_c"),
])
def test_names_are_cleaned_for_mlflow(key, expected):
    assert names.clean(key) == expected
