"""The build_features task: input tables -> one feature row per customer, written once.

The table goes to ``paths.features/<time stamp>-<run id>/`` (Parquet) with the feature
metadata beside it (``_feature_metadata.json``: the fitted transform that train, assign
and the segment model reuse). The run records the inputs with digests, the row accounting
of every table (quarantine included) and the stage timings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bigseg.config import BigsegConfig
from bigseg.tasks.common import METADATA_FILE, job_spark, open_job_run, stamp

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from bigseg.data.load import LoadedSources
    from bigseg.features.transform import FeatureMetadata
    from bigseg.tracking.runs import RunLogger

log = logging.getLogger(__name__)


@dataclass
class FeaturesOutput:
    """A written features table."""

    path: str
    metadata: FeatureMetadata
    n_customers: int
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Generated data only: customer_id -> planted segment (for agreement metrics).
    truth: DataFrame | None = None


def load_inputs(spark: SparkSession, cfg: BigsegConfig, run: RunLogger) -> LoadedSources:
    """Read (or generate) and validate the input tables; log their row accounting."""
    from bigseg.data.load import load_sources

    with run.stage("load"):
        sources = load_sources(spark, cfg.source, cfg.paths)
    run.log_quarantine(sources.report.to_dict())
    return sources


def build_and_write(spark: SparkSession, cfg: BigsegConfig, run: RunLogger,
                    sources: LoadedSources, metadata: FeatureMetadata | None = None
                    ) -> FeaturesOutput:
    """Build the features from ``sources`` and write them under paths.features."""
    from bigseg.features.build import build_features

    path = f"{cfg.paths.features}/{stamp(run.run_id)}"
    rows_in = sum(int(c.get("rows_used", 0)) for c in sources.report.to_dict().values())
    with run.stage("features", rows=rows_in):
        feature_set = build_features(spark, sources.tables, cfg.features, metadata=metadata)
        feature_set.df.write.mode("errorifexists").parquet(path)
        metadata_file = feature_set.metadata.save(Path(path) / METADATA_FILE)
        feature_set.unpersist()
    run.log_quarantine({f"features.{k}": v for k, v in feature_set.counts.items()})
    run.log_timings({f"features.{k}": v for k, v in feature_set.timings.items()})
    if feature_set.metadata.inputs:
        run.log_inputs(feature_set.metadata.inputs, context="features")
    run.log_artifact(metadata_file, "features")
    n = spark.read.parquet(path).count()
    run.log_metrics({"customers": n}, family="features")
    run.client.set_tag(run.run_id, "bigseg.features.path", path)
    log.info("features: %d customers written to %s", n, path)
    return FeaturesOutput(path, feature_set.metadata, n, feature_set.counts,
                          sources.extras.get("ground_truth"))


def run_build_features(cfg: BigsegConfig, spark: SparkSession | None = None) -> FeaturesOutput:
    """The build_features job: load and validate the inputs, build, write, track."""
    with open_job_run(cfg, "build_features") as run:
        spark = job_spark(cfg, spark)
        sources = load_inputs(spark, cfg, run)
        try:
            return build_and_write(spark, cfg, run, sources)
        finally:
            sources.unpersist()
