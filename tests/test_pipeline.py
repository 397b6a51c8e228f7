"""The end-to-end pipeline on generated data: what `scripts/dev run` does, small."""

from __future__ import annotations

import pytest

from bigseg.config import compose
from bigseg.tasks.pipeline import run_pipeline


@pytest.mark.slow
def test_pipeline_publishes_a_tracked_segment_version(spark, tmp_path, tracking_uri):
    import mlflow

    cfg = compose("pipeline", [
        f"paths.root={tmp_path}", f"tracking.uri={tracking_uri}",
        "source.synthetic.n_customers=600", "model.k=6", "model.max_iter=15",
        "features.as_of=2026-01-01",
    ])
    result = run_pipeline(cfg, spark)
    version = result.train.version

    assignments = spark.read.parquet(result.assignments_path)
    n = result.train.n_customers
    assert assignments.count() == n == version.rows
    assert assignments.select("customer_id").distinct().count() == n
    # The first version's ids are 0..k-1, every segment named, sizes add up.
    assert sorted(version.sizes) == list(range(6))
    assert sum(version.sizes.values()) == n
    assert assignments.filter("segment_name is null").count() == 0
    # Names come from the profiles (vocabulary words), not placeholders.
    names = {r.segment_name for r in assignments.select("segment_name").distinct().collect()}
    assert len(names) == 6 and not any(n.startswith("segment ") for n in names), names
    # Every customer that passed validation is segmented, none twice.
    assert result.features.counts["customers"]["rows_used"] == n
    # The planted segments are found again (6 planted, k=6).
    assert result.metrics["ari_vs_planted"] > 0.5

    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["model.k"] == "6"
    assert run.data.tags["bigseg.job"] == "pipeline"
    assert run.data.metrics["features/customers"] == n
    assert run.data.metrics["quarantine/customers.rows_in"] == (
        run.data.metrics["quarantine/customers.rows_used"]
        + run.data.metrics["quarantine/customers.rows_quarantined"])
    objective = [m.value for m in client.get_metric_history(result.run_id, "iter/objective")]
    assert len(objective) == run.data.metrics["kmeans/iterations"]
    assert objective[-1] <= objective[0]
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"features", "segments", "report", "config.yaml"} <= artifacts
    # Registered, committed, promoted by the default gates.
    assert set(version.aliases) >= {"challenger"}
    assert result.train.promotion is not None and result.train.promotion.passed
    champion = client.get_model_version_by_alias(cfg.tracking.registered_model, "champion")
    assert str(champion.version) == version.version
    assert (result.train.out_dir / "report.html").is_file()
    assert (result.train.out_dir / "audiences").is_dir()
