"""The end-to-end pipeline on generated data: what `scripts/dev run` does, small."""

from __future__ import annotations

import pytest

from bigseg.config import compose
from bigseg.tasks.pipeline import run_pipeline


@pytest.mark.slow
def test_pipeline_segments_generated_customers_and_tracks_the_run(spark, tmp_path, tracking_uri):
    import mlflow

    cfg = compose("pipeline", [
        f"paths.root={tmp_path}", f"tracking.uri={tracking_uri}",
        "source.synthetic.n_customers=600", "model.k=6", "model.max_iter=15",
        "features.as_of=2026-01-01",
    ])
    result = run_pipeline(cfg, spark)

    assignments = spark.read.parquet(result.assignments_path)
    assert assignments.count() == result.n_customers
    assert assignments.select("customer_id").distinct().count() == result.n_customers
    assert sorted(r.segment_id for r in assignments.select("segment_id").distinct().collect()) \
        == list(range(6))
    assert sum(result.cluster_sizes) == result.n_customers
    # Every customer that passed validation is segmented, none twice.
    assert result.metrics["customers.rows_used"] == result.n_customers
    assert result.metrics["customers.rows_in"] == (
        result.metrics["customers.rows_used"] + result.metrics["customers.rows_quarantined"])
    # The planted segments are found again (6 planted, k=6).
    assert result.metrics["ari_vs_planted"] > 0.5

    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["model.k"] == "6"
    assert run.data.metrics["customers"] == result.n_customers
    objective = [m.value for m in client.get_metric_history(result.run_id, "kmeans.objective")]
    assert len(objective) == run.data.metrics["iterations"]
    assert objective[-1] <= objective[0]
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"features", "model", "data", "segments"} <= artifacts
