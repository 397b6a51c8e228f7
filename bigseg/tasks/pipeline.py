"""The end-to-end pipeline: data -> features -> k-means segments -> assignments, tracked.

One MLflow run records the resolved config, the row accounting of every input table
(quarantine included), stage timings, the k-means history as step metrics, segment sizes
and, on generated data, the agreement with the planted segments.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig, to_flat_dict
from bigseg.tasks.train import estimator_from_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    run_id: str | None
    tracking_uri: str | None
    n_customers: int
    k: int
    training_cost: float
    cluster_sizes: list[int]
    features_path: str
    model_path: str
    assignments_path: str
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Times named stages and logs each with its duration."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        log.info("stage %s: started", name)
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        log.info("stage %s: done in %.1f s", name, self.seconds[name])


def run_pipeline(cfg: BigsegConfig, spark: SparkSession | None = None) -> PipelineResult:
    """Run the whole pipeline on ``cfg``; returns where everything was written."""
    import mlflow

    from bigseg.tracking.store import ensure_experiment, resolve_tracking_uri

    tracking_uri = None
    if cfg.tracking.enabled:
        # Fail on an unreachable tracking store before any Spark work starts.
        tracking_uri = resolve_tracking_uri(cfg.tracking, cfg.paths)
        mlflow.set_tracking_uri(tracking_uri)
        experiment_id = ensure_experiment(cfg.tracking.experiment, cfg.tracking, cfg.paths)
    if spark is None:
        from bigseg.session import get_spark

        spark = get_spark(cfg.spark)

    if not cfg.tracking.enabled:
        return _run(cfg, spark, run=None)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"pipeline-k{cfg.model.k}") as run:
        mlflow.set_tags({"bigseg.job": cfg.job, "bigseg.source": cfg.source.kind})
        params = {k: ("" if v is None else str(v))[:500] for k, v in to_flat_dict(cfg).items()}
        mlflow.log_params(params)
        result = _run(cfg, spark, run=run)
        result.tracking_uri = tracking_uri
        return result


def _run(cfg: BigsegConfig, spark: SparkSession, run) -> PipelineResult:
    import mlflow
    from pyspark.sql import functions as F

    from bigseg.data.load import load_sources
    from bigseg.evaluation.stability import ari_between
    from bigseg.features.build import build_features

    stages = _Stages()
    run_id = run.info.run_id if run is not None else time.strftime("%Y%m%dT%H%M%S")
    features_path = f"{cfg.paths.features}/{run_id}"
    model_path = f"{cfg.paths.models}/{run_id}"
    assignments_path = f"{cfg.paths.segments}/{run_id}"

    with stages.stage("load"):
        sources = load_sources(spark, cfg.source, cfg.paths)
    with stages.stage("features"):
        feature_set = build_features(spark, sources.tables, cfg.features)
        feature_set.df.write.mode("overwrite").parquet(features_path)
        metadata_file = feature_set.metadata.save(Path(features_path) / "_feature_metadata.json")
        feature_set.unpersist()
    features = spark.read.parquet(features_path)
    with stages.stage("train"):
        model = estimator_from_config(cfg.model).fit(features)
        model.write().overwrite().save(model_path)
    summary = model.summary
    with stages.stage("assign"):
        assigned = model.transform(features).select("customer_id", "segment_id", "distance")
        assigned.write.mode("overwrite").parquet(assignments_path)
    assignments = spark.read.parquet(assignments_path)
    n_customers = assignments.count()

    metrics: dict[str, float] = {
        "customers": float(n_customers),
        "training_cost": float(summary.trainingCost),
        "iterations": float(summary.numIter),
        "customers_per_s_train": n_customers / max(stages.seconds["train"], 1e-9),
    }
    for table, counts in sources.report.to_dict().items():
        for key in ("rows_in", "rows_used", "rows_quarantined"):
            if key in counts:
                metrics[f"{table}.{key}"] = float(counts[key])
    truth = sources.extras.get("ground_truth")
    if truth is not None:
        pairs = assignments.join(truth.select("customer_id", F.col("segment_id").alias("planted")),
                                 "customer_id")
        metrics["ari_vs_planted"] = ari_between(pairs, "segment_id", "planted")
        log.info("adjusted Rand index against the planted segments: %.3f",
                 metrics["ari_vs_planted"])
    for name, seconds in stages.seconds.items():
        metrics[f"seconds.{name}"] = seconds

    if run is not None:
        mlflow.log_metrics(metrics)
        for step, record in enumerate(summary.history, start=1):
            mlflow.log_metrics({f"kmeans.{key}": float(value) for key, value in record.items()
                                if isinstance(value, int | float) and key != "iteration"},
                               step=step)
        mlflow.log_artifact(str(metadata_file), "features")
        mlflow.log_artifacts(model_path, "model")
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "quarantine.json"
            report.write_text(json.dumps(sources.report.to_dict(), indent=2, default=str))
            mlflow.log_artifact(str(report), "data")
            sizes = Path(tmp) / "cluster_sizes.json"
            sizes.write_text(json.dumps([int(s) for s in summary.clusterSizes]))
            mlflow.log_artifact(str(sizes), "segments")
        mlflow.set_tag("bigseg.assignments_path", assignments_path)
    sources.unpersist()
    log.info("pipeline done: %d customers in %d segments; assignments at %s",
             n_customers, cfg.model.k, assignments_path)
    return PipelineResult(
        run_id=run.info.run_id if run is not None else None,
        tracking_uri=None,
        n_customers=n_customers,
        k=cfg.model.k,
        training_cost=float(summary.trainingCost),
        cluster_sizes=[int(s) for s in summary.clusterSizes],
        features_path=features_path,
        model_path=model_path,
        assignments_path=assignments_path,
        metrics=metrics,
        timings=dict(stages.seconds),
    )

