"""The train task: a features table -> a published, profiled, gated segment version.

One call, :func:`train_segments`, inside the job's MLflow run:

1. segments (bigseg.segments.segment_customers): the configured rule sets, the
   behavioural k-means (``model.k``, or the k sweep's recommendation when it is null;
   each k of the sweep is a child run), profiles with names, the playbook's actions;
2. the new version (bigseg.tracking.publish): ids matched to the previous version's,
   the segment model (centroids + feature metadata + rules, no pickle), the immutable
   assignment table, the registry entry with alias ``challenger``;
3. outputs under ``paths.reports/<version>``: audiences per segment and the HTML report,
   with the version's stable ids; profiles, the sweep and the centroids as artifacts;
4. migrations against the previous version, and promotion to ``champion`` when the
   configured gates pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bigseg.config import BigsegConfig, ModelConfig
from bigseg.tasks.common import features_path, job_spark, open_job_run, segments_root

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from bigseg.features.transform import FeatureMetadata
    from bigseg.segments.pipeline import SegmentationRun
    from bigseg.tracking.promotion import PromotionDecision
    from bigseg.tracking.publish import PublishedVersion
    from bigseg.tracking.runs import RunLogger

log = logging.getLogger(__name__)


def estimator_from_config(model: ModelConfig, *, features_col: str = "features",
                          prediction_col: str = "segment_id"):
    """A FaissKMeans whose Params are the config's (names mapped once, here)."""
    from bigseg.spark import FaissKMeans

    estimator = FaissKMeans(
        maxIter=model.max_iter,
        tol=model.tol,
        seed=model.seed,
        featuresCol=features_col,
        predictionCol=prediction_col,
        distanceMeasure=model.distance,
        initMode=model.init,
        initSteps=model.init_steps,
        assignment=model.assignment,
        backend=model.backend,
        backendFallback=model.backend_fallback,
        handleInvalid=model.handle_invalid,
    )
    if model.k is not None:
        estimator.setK(model.k)
    if model.num_workers is not None:
        estimator.setNumWorkers(model.num_workers)
    return estimator


@dataclass
class TrainResult:
    """What one training published."""

    run_id: str
    published: PublishedVersion
    promotion: PromotionDecision | None
    k: int
    n_customers: int
    out_dir: Path
    report: Path | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def version(self):
        return self.published.version


def check_train_config(cfg: BigsegConfig) -> None:
    """Settings that contradict each other, reported before any work."""
    behavioural = cfg.segments.behavioural
    if behavioural.k is not None and cfg.model.k is not None and behavioural.k != cfg.model.k:
        raise ValueError(
            f"model.k={cfg.model.k} and segments.behavioural.k={behavioural.k} disagree; "
            f"set model.k (null runs the k sweep)"
        )
    if behavioural.groups:
        raise ValueError(
            f"segments.behavioural.groups={sorted(behavioural.groups)} re-weights columns "
            f"outside the feature transform, which a published segment model could not "
            f"reproduce; weight feature groups with features.group_weights instead"
        )


def train_segments(spark: SparkSession, features: DataFrame, metadata: FeatureMetadata,
                   cfg: BigsegConfig, run: RunLogger, *, truth: DataFrame | None = None
                   ) -> TrainResult:
    """Segment ``features`` (a build_features table), publish and gate the version."""
    from bigseg.segments.pipeline import export_segmentation, relabel, segment_customers
    from bigseg.tracking.promotion import promote
    from bigseg.tracking.publish import publish_segment_version

    check_train_config(cfg)
    k = cfg.model.k if cfg.model.k is not None else cfg.segments.behavioural.k
    segments_cfg = replace(cfg.segments, behavioural=replace(
        cfg.segments.behavioural, k=k, seed=cfg.model.seed, max_iter=cfg.model.max_iter))
    n = features.count()
    with run.stage("segments", rows=n):
        seg = segment_customers(features, segments_cfg, estimator=estimator_from_config(cfg.model))
    try:
        model = seg.behavioural.model
        _log_fit(run, seg, cfg)
        # Profile rows are keyed by the segment column's value as text; an empty segment
        # has no row and gets a plain name.
        profile_names = seg.profiles.table["name"].to_dict()
        names = [str(profile_names.get(str(i), f"segment {i}")) for i in range(seg.behavioural.k)]
        col = segments_cfg.behavioural.output_col
        predictions = seg.df.select("customer_id", col, "segment_distance")
        with run.stage("publish", rows=n):
            published = publish_segment_version(
                spark, run, predictions=predictions, centroids=model.centroids,
                feature_metadata=metadata, model_name=cfg.tracking.registered_model,
                root=segments_root(cfg), as_of=metadata.as_of, segment_names=names,
                distance_measure=cfg.model.distance,
                match_max_distance=cfg.tracking.match_max_distance,
                rules=_rules(segments_cfg, seg), prediction_col=col,
                distance_col="segment_distance",
                champion_alias=cfg.tracking.champion_alias,
                challenger_alias=cfg.tracking.challenger_alias,
            )
        version = published.version
        run.log_centroids(model.centroids, published.match.segment_ids,
                          metadata.vector_names if not metadata.pca else None)
        labelled = relabel(seg, segments_cfg, published.match.segment_ids,
                           published.match.segment_names)
        out_dir = Path(cfg.paths.reports) / f"{cfg.tracking.registered_model}-v{version.version}"
        with run.stage("outputs"):
            export_segmentation(labelled, segments_cfg, out_dir,
                                title=f"{cfg.tracking.registered_model} v{version.version}")
            _log_outputs(run, labelled, out_dir)
        metrics = _quality(run, seg, labelled, truth, cfg)
        if published.previous is not None:
            _log_migration(spark, run, published)
        promotion = None
        if cfg.tracking.promote:
            promotion = promote(run.client, cfg.tracking.registered_model, version.version,
                                cfg.tracking.promotion, spark=spark,
                                champion_alias=cfg.tracking.champion_alias)
            run.log_metrics({"promoted": promotion.passed}, family="registry")
        log.info("train done: %d customers in %d segments, %s v%s%s; report %s", n,
                 seg.behavioural.k, version.name, version.version,
                 " (champion)" if promotion and promotion.passed else "", labelled.report)
        return TrainResult(run.run_id, published, promotion, seg.behavioural.k, n, out_dir,
                           labelled.report, metrics)
    finally:
        seg.unpersist()


def _rules(cfg: Any, seg: SegmentationRun) -> dict[str, Any]:
    from dataclasses import asdict

    return {name: asdict(cfg.rulesets[name]) for name in seg.rule_checks
            if name in cfg.rulesets}


def _log_fit(run: RunLogger, seg: SegmentationRun, cfg: BigsegConfig) -> None:
    """The k-means history as steps, its summary, and the k sweep as child runs."""
    from bigseg.tracking.runs import child_run
    from bigseg.tracking.store import connect

    model = seg.behavioural.model
    if getattr(model, "hasSummary", False):
        summary = model.summary
        run.log_history(summary.history)
        run.log_metrics({"training_cost": summary.trainingCost, "iterations": summary.numIter,
                         "training_seconds": summary.trainingSeconds,
                         "init_seconds": summary.initSeconds}, family="kmeans")
    run.log_metrics({"k": seg.behavioural.k}, family="kmeans")
    sweep = seg.behavioural.sweep
    if sweep is None:
        return
    run.log_text(sweep.table.to_csv(index=False), "segments/k_sweep.csv")
    run.client.set_tag(run.run_id, "bigseg.k_rule", sweep.rule[:5000])
    uri = connect(cfg.tracking, cfg.paths)
    for row in sweep.table.to_dict("records"):
        with child_run(run, f"k={int(row['k'])}", uri, cfg.tracking.experiment) as child:
            child.log_params({"model.k": int(row["k"])})
            child.log_quality({k: v for k, v in row.items() if k != "k"})


def log_profiles(run: RunLogger, profiles: Any, actions: dict[str, str]) -> None:
    """The profile table (CSV, one row per segment) and the actions (JSON)."""
    table = profiles.table.copy()
    table["top_features"] = table["top_features"].map(lambda v: ", ".join(map(str, v)))
    run.log_text(table.to_csv(index_label="segment_id"), "segments/profiles.csv")
    run.log_dict({str(k): v for k, v in actions.items()}, "segments/actions.json")


def _log_outputs(run: RunLogger, seg: SegmentationRun, out_dir: Path) -> None:
    log_profiles(run, seg.profiles, seg.actions)
    if seg.audiences is not None:
        run.log_text(seg.audiences.manifest.to_csv(index=False), "segments/audiences.csv")
    if seg.report is not None:
        run.log_artifact(seg.report, "report")
    checks = {name: {"sizes": c.sizes, "uncovered": c.n_uncovered, "overlap": c.n_overlap}
              for name, c in seg.rule_checks.items()}
    run.log_dict(checks, "segments/rule_sets.json")
    for name, c in seg.rule_checks.items():
        run.log_metrics({f"{name}.uncovered": c.n_uncovered, f"{name}.overlap": c.n_overlap},
                        family="rules")


def _quality(run: RunLogger, seg: SegmentationRun, labelled: SegmentationRun,
             truth: DataFrame | None, cfg: BigsegConfig) -> dict[str, float]:
    """Quality metrics: the sweep's figures at the chosen k, and agreement with the
    planted segments on generated data."""
    from pyspark.sql import functions as F

    from bigseg.evaluation.stability import ari_between

    metrics: dict[str, float] = {}
    sweep = seg.behavioural.sweep
    if sweep is not None:
        row = sweep.table.set_index("k").loc[seg.behavioural.k]
        metrics.update({k: float(v) for k, v in row.items()
                        if isinstance(v, int | float) and k not in ("best_seed", "n_iter")})
    if truth is not None:
        col = cfg.segments.behavioural.output_col
        pairs = labelled.df.select("customer_id", col).join(
            truth.select("customer_id", F.col("segment_id").alias("planted")), "customer_id")
        metrics["ari_vs_planted"] = ari_between(pairs, col, "planted")
        log.info("adjusted Rand index against the planted segments: %.3f",
                 metrics["ari_vs_planted"])
    run.log_quality(metrics)
    return metrics


def _log_migration(spark: SparkSession, run: RunLogger, published: PublishedVersion) -> None:
    from bigseg.tracking.migrations import log_migration, migration_matrix

    before, after = published.previous, published.version
    migration = migration_matrix(before.read(spark), after.read(spark))
    log_migration(migration, run.client, run.run_id,
                  tag=f"v{before.version}_v{after.version}")
    log.info("migration v%s -> v%s: %.1f%% of common customers kept their segment "
             "(ARI %.3f)", before.version, after.version, 100 * migration.stayed_share,
             migration.ari)


def run_train(cfg: BigsegConfig, spark: SparkSession | None = None) -> TrainResult:
    """The train job: the features table named by inputs.features (or the newest)."""
    from bigseg.features.transform import FeatureMetadata
    from bigseg.tasks.common import METADATA_FILE

    check_train_config(cfg)
    path = features_path(cfg)
    with open_job_run(cfg, "train", f"train-k{cfg.model.k or 'sweep'}") as run:
        spark = job_spark(cfg, spark)
        metadata = FeatureMetadata.load(Path(path) / METADATA_FILE)
        features = spark.read.parquet(path)
        run.log_inputs({"features": {"path": path, "as_of": metadata.as_of}})
        return train_segments(spark, features, metadata, cfg, run)
