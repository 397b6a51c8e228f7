"""The profile task: profiles, actions, audiences and the report of a segment version.

The version (``inputs.version``) gives each customer's segment; the features table
(``inputs.features``, else the newest) gives the figures. Written to
``paths.reports/<model>-v<version>-profile`` and logged to the job's run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig
from bigseg.tasks.common import features_path, job_spark, open_job_run

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bigseg.segments.profiles import SegmentProfiles
    from bigseg.tracking.versions import SegmentVersion

log = logging.getLogger(__name__)


@dataclass
class ProfileResult:
    run_id: str
    version: SegmentVersion
    profiles: SegmentProfiles
    actions: dict[str, str]
    out_dir: Path
    report: Path


def run_profile(cfg: BigsegConfig, spark: SparkSession | None = None) -> ProfileResult:
    """The profile job."""
    from pyspark import StorageLevel

    from bigseg.segments.actions import suggest_actions
    from bigseg.segments.audiences import export_audiences
    from bigseg.segments.profiles import profile_segments
    from bigseg.segments.report import write_report
    from bigseg.tasks.train import log_profiles
    from bigseg.tracking.versions import get_segment_version

    name = cfg.tracking.registered_model
    path = features_path(cfg)
    with open_job_run(cfg, "profiles", f"profiles-{cfg.inputs.version}") as run:
        version = get_segment_version(run.client, name, cfg.inputs.version)
        spark = job_spark(cfg, spark)
        features = spark.read.parquet(path)
        segments = version.read(spark).select("customer_id", "segment_id")
        table = features.join(segments, "customer_id").persist(StorageLevel.MEMORY_AND_DISK)
        try:
            n = table.count()
            if n < version.rows:
                log.warning("%d of the %d customers of %s v%s are in the features table %s",
                            n, version.rows, name, version.version, path)
            if n == 0:
                raise ValueError(f"no customer of {name} v{version.version} is in the "
                                 f"features table {path}; set inputs.features")
            wanted = cfg.segments.profile.features
            present = [f for f in wanted if f in features.columns]
            if len(present) < len(wanted):
                log.warning("profile features not in the table, left out: %s",
                            sorted(set(wanted) - set(present)))
            with run.stage("profile", rows=n):
                profiles = profile_segments(table, "segment_id", cfg.segments.profile, present)
                actions = suggest_actions(profiles, cfg.segments.playbook,
                                          cfg.segments.default_action, cfg.segments.profile)
                out = Path(cfg.paths.reports) / f"{name}-v{version.version}-profile"
                export_audiences(table, "segment_id", actions, out / "audiences",
                                 formats=cfg.segments.audience_formats,
                                 default_action=cfg.segments.default_action)
                report = write_report(out / "report.html", title=f"{name} v{version.version}",
                                      profiles=profiles, actions=actions)
        finally:
            table.unpersist()
        log_profiles(run, profiles, actions)
        run.log_artifact(report, "report")
        run.client.set_tag(run.run_id, "bigseg.segments.version", version.version)
        log.info("profile of %s v%s: %d segments, report %s", name, version.version,
                 len(profiles.table), report)
        return ProfileResult(run.run_id, version, profiles, actions, out, report)
