"""The train and compare tasks against a real `mlflow server` on 127.0.0.1: a run logs
everything a data scientist compares, a second training keeps the ids of matched
segments and logs its migrations, and compare writes the tables."""

from __future__ import annotations

import pandas as pd
import pytest

from bigseg.config import compose
from bigseg.tasks.compare import run_compare
from bigseg.tasks.features import run_build_features
from bigseg.tasks.train import run_train

pytestmark = [pytest.mark.slow, pytest.mark.mlflow_server]


def test_train_runs_log_everything_and_versions_keep_ids(spark, tmp_path, mlflow_server):
    import mlflow

    from bigseg.tracking.versions import get_segment_version

    common = [f"paths.root={tmp_path}", f"tracking.uri={mlflow_server}",
              "tracking.experiment=train-tracking", "tracking.registered_model=train-test",
              "source.synthetic.n_customers=400", "model.max_iter=10"]
    first = common + ["features.as_of=2025-10-01"]
    run_build_features(compose("build_features", first), spark)
    # model.k=null: the k sweep chooses, each k a child run.
    sweep = ["model.k=null", "segments.sweep.k_min=4", "segments.sweep.k_max=6",
             "segments.sweep.seeds=[0,1]"]
    trained = run_train(compose("train", first + sweep), spark)

    client = mlflow.MlflowClient(mlflow_server)
    run = client.get_run(trained.run_id)
    assert run.data.params["model.k"] == "null"
    assert run.data.tags["bigseg.job"] == "train"
    assert "mlflow.source.git.commit" in run.data.tags
    assert run.inputs.dataset_inputs[0].dataset.name == "features"
    metrics = run.data.metrics
    assert metrics["kmeans/k"] == trained.k
    assert {"quality/silhouette", "quality/stability_ari", "timing/segments_s",
            "throughput/segments_rows_per_s", "segments/min_share"} <= set(metrics)
    history = client.get_metric_history(trained.run_id, "iter/objective")
    assert len(history) == metrics["kmeans/iterations"]
    artifacts = {a.path for a in client.list_artifacts(trained.run_id, "segments")}
    assert {"segments/profiles.csv", "segments/k_sweep.csv", "segments/centroids.csv",
            "segments/stable_ids.json"} <= artifacts
    assert [a.path for a in client.list_artifacts(trained.run_id, "report")] == [
        "report/report.html"]
    children = client.search_runs([run.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{trained.run_id}'")
    assert sorted(c.data.params["model.k"] for c in children) == ["4", "5", "6"]
    v1 = get_segment_version(client, "train-test", "champion")
    assert v1.version == trained.version.version

    # Three months later, same k: the segments match the first version's and keep ids.
    later = common + ["features.as_of=2026-01-01", f"model.k={trained.k}"]
    run_build_features(compose("build_features", later), spark)
    second = run_train(compose("train", later), spark)
    assert second.published.previous.version == v1.version
    assert sorted(second.published.match.segment_ids) == sorted(v1.sizes)
    assert len(second.published.match.matched) == trained.k
    migration = client.get_run(second.run_id).data.metrics
    tag = f"migration/v{v1.version}_v{second.version.version}"
    assert 0.0 <= migration[f"{tag}.stayed_share"] <= 1.0
    assert migration[f"{tag}.ari"] > 0.3

    comparison = run_compare(compose("compare", common), spark)
    assert comparison.versions["version"].astype(str).tolist() == [
        v1.version, second.version.version]
    assert isinstance(comparison.runs, pd.DataFrame) and len(comparison.runs) == 2
    # Only what differs between the two runs is a param column, e.g. the k and the date.
    assert "param.features.as_of" in comparison.runs.columns
