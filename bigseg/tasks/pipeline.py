"""The end-to-end pipeline: data -> features -> segments -> profiles -> report -> version.

One MLflow run holds it all: the resolved config, the row accounting of every input table
(quarantine included), the features table, the k-means history as step metrics, the
segment version (model, assignment table, stable ids, migrations, promotion), profiles,
audiences and the report; on generated data, the agreement with the planted segments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig
from bigseg.tasks.common import job_spark, open_job_run, require_tracking
from bigseg.tasks.features import FeaturesOutput, build_and_write, load_inputs
from bigseg.tasks.train import TrainResult, check_train_config, train_segments

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    run_id: str
    features: FeaturesOutput
    train: TrainResult
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.train.metrics

    @property
    def assignments_path(self) -> str:
        return self.train.version.path


def run_pipeline(cfg: BigsegConfig, spark: SparkSession | None = None) -> PipelineResult:
    """Run the whole pipeline on ``cfg``; returns where everything was written."""
    require_tracking(cfg, "pipeline")
    check_train_config(cfg)
    start = time.perf_counter()
    with open_job_run(cfg, "pipeline", f"pipeline-k{cfg.model.k or 'sweep'}") as run:
        spark = job_spark(cfg, spark)
        sources = load_inputs(spark, cfg, run)
        try:
            features = build_and_write(spark, cfg, run, sources)
            table = spark.read.parquet(features.path)
            trained = train_segments(spark, table, features.metadata, cfg, run,
                                     truth=features.truth)
        finally:
            sources.unpersist()
        log.info("pipeline done in %.0f s: %s v%s, report %s", time.perf_counter() - start,
                 trained.version.name, trained.version.version, trained.report)
        return PipelineResult(run.run_id, features, trained, dict(run.timings))
