"""The assign task: score customers with a published segment model -> a new version.

The model (``inputs.version``: the champion by default, or a version number) brings its
fitted feature transform, so today's customers are featurised exactly as the training's
were (nothing refitted), then assigned to the nearest centroid in the executors. The
result is a new segment version of the same registered model: the same segment ids and
names, a new immutable assignment table as of ``features.as_of``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig
from bigseg.tasks.common import job_spark, open_job_run, segments_root
from bigseg.tasks.features import FeaturesOutput, build_and_write, load_inputs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bigseg.tracking.promotion import PromotionDecision
    from bigseg.tracking.versions import SegmentVersion

log = logging.getLogger(__name__)

TAG_SCORED_WITH = "bigseg.segments.scored_with"


@dataclass
class AssignResult:
    run_id: str
    model_version: SegmentVersion
    version: SegmentVersion
    features: FeaturesOutput
    promotion: PromotionDecision | None


def run_assign(cfg: BigsegConfig, spark: SparkSession | None = None) -> AssignResult:
    """The assign job: featurise with the model's transform, assign, commit a version."""
    from bigseg.features.transform import FeatureMetadata
    from bigseg.spark import FaissKMeansModel
    from bigseg.tracking import names
    from bigseg.tracking.migrations import log_migration, migration_matrix
    from bigseg.tracking.promotion import promote
    from bigseg.tracking.publish import TAG_MAX_ID
    from bigseg.tracking.segment_model import load_segment_spec
    from bigseg.tracking.versions import (
        commit_segment_version,
        get_segment_version,
        label_assignments,
    )

    name = cfg.tracking.registered_model
    with open_job_run(cfg, "assign", f"assign-{cfg.inputs.version}") as run:
        client = run.client
        base = get_segment_version(client, name, cfg.inputs.version)
        spec = load_segment_spec(base.model_uri)
        log.info("assign with %s v%s (%d segments, as of %s)", name, base.version,
                 len(spec.segment_ids), base.as_of)
        spark = job_spark(cfg, spark)
        sources = load_inputs(spark, cfg, run)
        try:
            metadata = FeatureMetadata.from_json(json.dumps(spec.feature_metadata))
            features = build_and_write(spark, cfg, run, sources, metadata=metadata)
        finally:
            sources.unpersist()
        model = (FaissKMeansModel(spec.centroids)
                 .setDistanceMeasure(spec.distance_measure).setFeaturesCol("features")
                 .setPredictionCol("prediction").setDistanceCol("distance"))
        table = spark.read.parquet(features.path)
        with run.stage("assign", rows=features.n_customers):
            assignments = label_assignments(model.transform(table), spec.segment_ids,
                                            spec.segment_names)
            source = client.get_model_version(name, base.version).source
            tags = {TAG_SCORED_WITH: base.version, names.TAG_PARENT_VERSION: base.version}
            if TAG_MAX_ID in base.tags:
                tags[TAG_MAX_ID] = base.tags[TAG_MAX_ID]
            version = commit_segment_version(
                spark, assignments, model_uri=source, name=name, root=segments_root(cfg),
                as_of=features.metadata.as_of, client=client, run_id=run.run_id, tags=tags,
                challenger_alias=cfg.tracking.challenger_alias,
            )
        run.log_segment_sizes(version.sizes)
        migration = migration_matrix(base.read(spark), version.read(spark))
        log_migration(migration, client, run.run_id, tag=f"v{base.version}_v{version.version}")
        promotion = None
        if cfg.tracking.promote:
            promotion = promote(client, name, version.version, cfg.tracking.promotion,
                                spark=spark, champion_alias=cfg.tracking.champion_alias)
        log.info("assign done: %d customers -> %s v%s (scored with v%s); %.1f%% of the "
                 "customers in both kept their segment", version.rows, name, version.version,
                 base.version, 100 * migration.stayed_share)
        return AssignResult(run.run_id, base, version, features, promotion)
