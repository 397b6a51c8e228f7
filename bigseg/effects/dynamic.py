"""Dynamic segmentation: features and k-means as of a series of dates on the same data.

Each date becomes a segment version (bigseg.tracking.publish: stable ids matched to the
previous date's segments, the model logged in a child run, the assignment table
committed). Between consecutive versions the report gives the migration matrix
(bigseg.tracking.migrations), what each migration path is worth (revenue between the
dates, CLV before and after: bigseg.effects.paths) and which segments grow or shrink.

By default the features are fitted at the first date and applied unchanged at later
ones (``refit_features: false``): one feature space, so centroids of different dates are
comparable as they are and each k-means can start from the previous date's centroids
(``warm_start``), which keeps segments in place unless the customers really moved.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bigseg.config import DynamicConfig, FeaturesConfig, ModelConfig, ProfileConfig
from bigseg.effects.paths import path_values, revenue_between, segment_trends
from bigseg.effects.schedule import schedule_dates
from bigseg.figures import save_png
from bigseg.tracking.migrations import Migration, migration_matrix, write_migration

if TYPE_CHECKING:
    from bigseg.tracking.runs import RunLogger

log = logging.getLogger(__name__)

FAMILY = "dynamic"


@dataclass
class DatedVersion:
    """One date's segment version."""

    as_of: date
    version: str
    path: str
    run_id: str
    features_path: str
    sizes: dict[int, int]
    names: dict[int, str]


@dataclass
class DynamicReport:
    """The versions in date order, the migrations between consecutive ones, the value of
    every migration path (``paths``: one row per pair of dates x path) and the segments'
    trends (``trends``: one row per date x segment)."""

    versions: list[DatedVersion]
    migrations: list[Migration] = field(default_factory=list)
    paths: pd.DataFrame = field(default_factory=pd.DataFrame)
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)

    def pair_labels(self) -> list[str]:
        return [f"{a.as_of}_{b.as_of}" for a, b in itertools.pairwise(self.versions)]

    def save(self, folder: str | Path) -> dict[str, Path]:
        """paths.csv, trends.csv, sizes.png and per pair counts, shares and a heatmap."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"paths": folder / "paths.csv", "trends": folder / "trends.csv",
                 "sizes": folder / "sizes.png"}
        self.paths.to_csv(files["paths"], index=False)
        self.trends.to_csv(files["trends"], index=False)
        plot_sizes(self.trends, files["sizes"])
        for label, m in zip(self.pair_labels(), self.migrations, strict=True):
            written = write_migration(m, folder, f"migration_{label}_",
                                      title=f"migrations {label.replace('_', ' -> ')}")
            files[f"heatmap_{label}"] = written["heatmap"]
        return files


def run_dynamic_segmentation(
    spark: SparkSession,
    tables: Mapping[str, DataFrame],
    *,
    features: FeaturesConfig,
    model: ModelConfig,
    dynamic: DynamicConfig,
    run: RunLogger,
    tracking_uri: str,
    experiment: str,
    segments_root: str,
    features_root: str,
    profile: ProfileConfig | None = None,
    match_max_distance: float | None = None,
) -> DynamicReport:
    """Segment the customers of ``tables`` as of every scheduled date, publish each date
    as a version of ``dynamic.registered_model`` (one child run of ``run`` per date), and
    report migrations, path values and trends into ``run``.

    ``features_root``/``segments_root``: where each date's features and the versions'
    assignment tables go. ``profile``: names for new segments from their profiles
    (default ``segment_<id>``).
    """
    days = schedule_dates(dynamic)
    if not 0 <= dynamic.growth_threshold:
        raise ValueError(f"growth_threshold={dynamic.growth_threshold} should be >= 0")
    versions: list[DatedVersion] = []
    metadata = None
    centroids = None
    for i, day in enumerate(days):
        with run.stage(f"version_{i}"):
            version, fitted_metadata, centroids = _one_date(
                spark, tables, day, features=features, model=model, dynamic=dynamic,
                run=run, tracking_uri=tracking_uri, experiment=experiment,
                segments_root=segments_root, features_root=features_root, profile=profile,
                match_max_distance=match_max_distance, metadata=metadata,
                warm=centroids if dynamic.warm_start else None)
        if not dynamic.refit_features:
            metadata = fitted_metadata
        versions.append(version)
        run.log_metrics({f"size.{k}": v for k, v in version.sizes.items()}, family=FAMILY,
                        step=i)
    report = DynamicReport(versions)
    _compare_versions(spark, tables, report, dynamic, run)
    return report


def _one_date(spark, tables, day: date, *, features, model, dynamic, run, tracking_uri,
              experiment, segments_root, features_root, profile, match_max_distance,
              metadata, warm):
    """Features, k-means and the published version of one date."""
    from bigseg.features.build import build_features
    from bigseg.tasks.train import estimator_from_config
    from bigseg.tracking.publish import publish_segment_version
    from bigseg.tracking.runs import child_run

    built = build_features(spark, tables, features, as_of=day, metadata=metadata)
    features_path = f"{features_root.rstrip('/')}/as_of={day}"
    built.df.write.mode("overwrite").parquet(features_path)
    built.metadata.save(Path(features_path) / "_feature_metadata.json")
    built.unpersist()
    table = spark.read.parquet(features_path)
    estimator = estimator_from_config(model, prediction_col="prediction")
    if warm is not None and metadata is not None:
        # Same feature space as the previous date: start from its centroids.
        estimator.setInitialModel(warm.tolist())
    fitted = estimator.fit(table)
    predictions = fitted.transform(table)
    names = _segment_names(predictions, profile, fitted.centroids.shape[0])
    with child_run(run, f"dynamic-{day}", tracking_uri, experiment,
                   tags={"bigseg.dynamic.as_of": str(day)}) as child:
        child.log_params({"as_of": str(day), "warm_start": warm is not None})
        child.log_history(fitted.summary.history)
        published = publish_segment_version(
            spark, child, predictions=predictions.select("customer_id", "prediction",
                                                          "distance"),
            centroids=fitted.centroids, feature_metadata=built.metadata,
            model_name=dynamic.registered_model, root=segments_root, as_of=day,
            segment_names=names, distance_measure=model.distance,
            match_max_distance=match_max_distance, prediction_col="prediction")
    v = published.version
    log.info("dynamic segmentation as of %s: version %s, sizes %s", day, v.version, v.sizes)
    dated = DatedVersion(
        as_of=day, version=v.version, path=v.path, run_id=child.run_id,
        features_path=features_path, sizes=dict(v.sizes),
        names=dict(zip(published.match.segment_ids, published.match.segment_names,
                       strict=True)))
    return dated, built.metadata, fitted.centroids


def _segment_names(predictions: DataFrame, profile: ProfileConfig | None, k: int) -> list[str]:
    """Names of the centroids from their profiles, or ``segment_<i>``."""
    default = [f"segment_{i}" for i in range(k)]
    if profile is None:
        return default
    from dataclasses import replace

    from bigseg.segments.profiles import profile_segments

    present = [f for f in profile.features if f in predictions.columns]
    revenue = profile.revenue_col if profile.revenue_col in predictions.columns else None
    if not present:
        return default
    profiles = profile_segments(predictions, "prediction",
                                replace(profile, features=present, revenue_col=revenue))
    by_id = profiles.names()
    return [str(by_id.get(str(i), default[i])) for i in range(k)]


def _version_table(spark: SparkSession, v: DatedVersion, clv_col: str) -> DataFrame:
    table = spark.read.parquet(v.path).select("customer_id", "segment_id", "segment_name")
    feats = spark.read.parquet(v.features_path)
    if clv_col in feats.columns:
        table = table.join(feats.select("customer_id", F.col(clv_col).alias("clv")),
                           "customer_id", "left")
    return table


def _compare_versions(spark, tables, report: DynamicReport, dynamic: DynamicConfig,
                      run: RunLogger) -> None:
    """Migrations, path values and trends of consecutive versions, logged into ``run``."""
    from bigseg.tracking.migrations import log_migration

    frames = []
    for i, (a, b) in enumerate(itertools.pairwise(report.versions)):
        before = _version_table(spark, a, dynamic.clv_col)
        after = _version_table(spark, b, dynamic.clv_col)
        migration = migration_matrix(before, after)
        report.migrations.append(migration)
        label = f"{a.as_of}_{b.as_of}"
        log_migration(migration, run.client, run.run_id, artifact_dir="migrations", tag=label)
        revenue = None
        if tables.get("transactions") is not None and tables.get("identities") is not None:
            revenue = revenue_between(tables["transactions"], tables["identities"],
                                      a.as_of, b.as_of)
        paths = path_values(before, after, revenue, clv_col="clv")
        paths.insert(0, "to_as_of", str(b.as_of))
        paths.insert(0, "from_as_of", str(a.as_of))
        frames.append(paths)
        moved = paths[(paths.segment_before != paths.segment_after)
                      & (paths.segment_before >= 0) & (paths.segment_after >= 0)]
        run.log_metrics({"moved_share": moved["customers"].sum() / max(migration.n_common, 1),
                         "ari": migration.ari}, family=FAMILY, step=i + 1)
    report.paths = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    names: dict[int, str] = {}
    for v in report.versions:
        names.update(v.names)
    report.trends = segment_trends([v.sizes for v in report.versions],
                                   [str(v.as_of) for v in report.versions], names,
                                   threshold=dynamic.growth_threshold)


def plot_sizes(trends: pd.DataFrame, path: str | Path) -> Path:
    """Segment sizes per version (one line per segment id)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a cluster
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if not trends.empty:
            for sid, rows in trends.groupby("segment_id"):
                ax.plot(rows["version"], rows["size"], marker="o",
                        label=f"{sid} {rows['segment_name'].iloc[-1]}")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("as of")
        ax.set_ylabel("customers")
        ax.set_title("segment sizes over time")
        fig.autofmt_xdate()
    except BaseException:
        plt.close(fig)
        raise
    return save_png(fig, path)


def as_dict(report: DynamicReport) -> dict[str, Any]:
    """A JSON-ready summary (versions, sizes, names)."""
    return {"versions": [{"as_of": str(v.as_of), "version": v.version, "run_id": v.run_id,
                          "path": v.path, "sizes": {str(k): n for k, n in v.sizes.items()},
                          "names": {str(k): n for k, n in v.names.items()}}
                         for v in report.versions]}
