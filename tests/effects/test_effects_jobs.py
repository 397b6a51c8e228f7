"""The evaluate and dynamic jobs end to end through their task functions, on small
generated data: composed configs, real Spark, MLflow (SQLite) and FAISS."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from bigseg.config import compose
from bigseg.tasks.dynamic import run_dynamic
from bigseg.tasks.effects import run_effects


def test_evaluate_job_reports_effects_per_planted_segment(spark, tmp_path, tracking_uri):
    cfg = compose("evaluate", [
        f"paths.root={tmp_path}", f"tracking.uri={tracking_uri}",
        "source.synthetic.n_customers=2000", "source.synthetic.dirty_share=0.0",
        "effects.segments_from=ground_truth", "effects.name_col=segment",
        "effects.min_per_arm=100", "effects.cost_per_contact=0.5",
        "effects.bootstrap_replicates=50",
    ])
    result = run_effects(cfg, spark)
    table = pd.read_csv(result.files["table"])
    assert len(table) == 2 * (6 + 1)  # 2 campaigns x (6 segments + ALL)
    assert set(table["status"]) <= {"positive", "negative", "not significant", "insufficient"}
    assert Path(result.files["plot"]).stat().st_size > 0
    # High-net-worth customers (10%: ~100 per arm) are too few for a conclusion here.
    hnw = table[table["segment_name"] == "high_net_worth"]
    assert (hnw["status"] == "insufficient").all()
    price = result.report.row("CMP-01", 4)  # price seekers, planted uplift 0.25
    assert price.status == "positive" and price.lift_lo > 0.1
    assert price.cost == pytest.approx(0.5 * price.n_treated)

    run = mlflow.MlflowClient(tracking_uri).get_run(result.run_id)
    assert run.data.tags["bigseg.job"] == "evaluate"
    assert run.data.metrics["effects/CMP-01.4.significant"] == 1.0
    assert run.data.metrics["effects/CMP-01.4.lift_abs"] == pytest.approx(price.lift_abs)
    assert run.data.params["effects.segments_from"] == "ground_truth"
    artifacts = {a.path for a in mlflow.MlflowClient(tracking_uri).list_artifacts(
        result.run_id, "effects")}
    assert artifacts == {"effects/effects.csv", "effects/effects.png", "effects/effects.json"}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["effects.segments_from=rules"], r"effects.segments_from='rules' should be one of"),
        (["effects.segments_from=path"], r"effects.segments_from=path needs effects.segments_path"),
        (["effects.alpha=1.5"], r"alpha=1.5 should be within \(0, 1\)"),
    ],
)
def test_bad_evaluate_settings_fail_before_any_work(tmp_path, overrides, match):
    cfg = compose("evaluate", [f"paths.root={tmp_path}", *overrides])
    with pytest.raises(ValueError, match=match):
        run_effects(cfg)


@pytest.mark.slow
def test_dynamic_job_recovers_the_planted_migration(spark, tmp_path, tracking_uri):
    # The dynamic.yaml quickstart, smaller: 40% of the loyal customers churn on
    # 2024-08-01, between the two dates.
    cfg = compose("dynamic", [
        f"paths.root={tmp_path}", f"tracking.uri={tracking_uri}",
        "source.synthetic.n_customers=2000", "source.synthetic.dirty_share=0.0",
        "source.synthetic.n_campaigns=0", "model.max_iter=30",
    ])
    result = run_dynamic(cfg, spark)
    report = result.report
    assert [str(v.as_of) for v in report.versions] == ["2024-07-01", "2025-07-01"]
    assert [v.version for v in report.versions] == ["1", "2"]
    # Stable ids: the second version's segments carry the first one's ids.
    assert set(report.versions[1].sizes) == set(report.versions[0].sizes) == set(range(6))

    recovered = result.recovered
    assert len(recovered) == 1
    row = recovered.iloc[0]
    assert (row.from_segment, row.to_segment, row.planted_rate) == (
        "loyal_high_frequency", "lapsed_churned", 0.4)
    assert row.recovered_rate == pytest.approx(0.4, rel=0.2)

    # The loyal segment shrinks, the lapsed one grows, and the path between them is
    # reported with the revenue its customers brought and their CLV before and after.
    (loyal,), (lapsed,) = row.segments_from, row.segments_to
    trends = report.trends.set_index(["version", "segment_id"])
    assert trends.loc[("2025-07-01", loyal), "trend"] == "shrinking"
    assert trends.loc[("2025-07-01", lapsed), "trend"] == "growing"
    paths = report.paths.set_index(["segment_before", "segment_after"])
    churn, stay = paths.loc[(loyal, lapsed)], paths.loc[(loyal, loyal)]
    assert churn.share == pytest.approx(row.recovered_rate)
    assert churn.clv_after < 0.2 * churn.clv_before
    assert churn.revenue_per_customer < 0.25 * stay.revenue_per_customer

    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.metrics[
        "planted/loyal_high_frequency-to-lapsed_churned.recovered_rate"] == pytest.approx(
        row.recovered_rate)
    sizes = client.get_metric_history(result.run_id, f"dynamic/size.{loyal}")
    assert [m.step for m in sizes] == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "migrations")}
    assert "migrations/2024-07-01_2025-07-01_heatmap.png" in artifacts
    children = client.search_runs([run.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.data.tags["bigseg.dynamic.as_of"] for c in children) == [
        "2024-07-01", "2025-07-01"]
    assert Path(result.files["paths"]).exists() and Path(result.files["sizes"]).exists()


def test_dynamic_job_needs_tracking(tmp_path):
    cfg = compose("dynamic", [f"paths.root={tmp_path}", "tracking.enabled=false"])
    with pytest.raises(ValueError, match=r"tracking.enabled should be true"):
        run_dynamic(cfg)
