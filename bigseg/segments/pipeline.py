"""One call from a customer feature table to segments people can act on.

``segment_customers(df, cfg, out_dir)`` runs, in order: the configured rule sets (one
segment column each), the behavioural k-means segments (k from the sweep unless fixed),
their profiles and names, the playbook's actions, and with ``out_dir`` the audience files
and the HTML report. A job or task turns its config into this call and nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bigseg.config import SegmentsConfig
from bigseg.segments.actions import suggest_actions
from bigseg.segments.audiences import AudienceExport, export_audiences
from bigseg.segments.behavioural import BehaviouralSegments, behavioural_segments
from bigseg.segments.profiles import SegmentProfiles, profile_segments
from bigseg.segments.report import rfm_grid_counts, sample_for_projection, write_report
from bigseg.segments.rules import RuleCheck, apply_rules

log = logging.getLogger(__name__)


@dataclass
class SegmentationRun:
    """Everything one run produced; ``df`` is cached until :meth:`unpersist`."""

    df: DataFrame
    rule_checks: dict[str, RuleCheck]
    behavioural: BehaviouralSegments
    profiles: SegmentProfiles
    actions: dict[str, str]
    audiences: AudienceExport | None = None
    report: Path | None = None

    def unpersist(self) -> None:
        self.df.unpersist()
        self.behavioural.df.unpersist()


def segment_customers(df: DataFrame, cfg: SegmentsConfig, out_dir: str | Path | None = None,
                      title: str = "bigseg segments", estimator: Any = None) -> SegmentationRun:
    """Rules, behavioural segments, profiles, actions; audiences and report in out_dir.

    ``estimator``: an unfitted FaissKMeans carrying the k-means Params that the
    behavioural config does not set (see :func:`behavioural_segments`).
    """
    ruled, checks = apply_rules(df, cfg)
    behaviour = behavioural_segments(ruled, cfg.behavioural, cfg.sweep, estimator=estimator)
    segment_col = cfg.behavioural.output_col
    # Profiles, audiences and the report each read the assigned table: assign once.
    out = behaviour.df.persist(StorageLevel.MEMORY_AND_DISK)
    features = [f for f in cfg.profile.features if f in out.columns]
    skipped = sorted(set(cfg.profile.features) - set(features))
    if skipped:
        log.warning("profile features not in the table, left out: %s", skipped)
    profiles = profile_segments(out, segment_col, cfg.profile, features)
    actions = suggest_actions(profiles, cfg.playbook, cfg.default_action, cfg.profile)
    run = SegmentationRun(df=out, rule_checks=checks, behavioural=behaviour,
                          profiles=profiles, actions=actions)
    if out_dir is not None:
        export_segmentation(run, cfg, out_dir, title)
    return run


def relabel(run: SegmentationRun, cfg: SegmentsConfig, segment_ids: Sequence[int],
            segment_names: Sequence[str]) -> SegmentationRun:
    """The run with centroid index i renamed to ``segment_ids[i]`` (a version's stable
    ids) in the table, the profiles and the actions; names become ``segment_names``."""
    if len(segment_ids) != len(segment_names):
        raise ValueError(f"segment_ids ({len(segment_ids)}) and segment_names "
                         f"({len(segment_names)}) should have the same length")
    col = cfg.behavioural.output_col
    ids = F.array(*[F.lit(int(i)) for i in segment_ids])
    # element_at is 1-based; the k-means id is the centroid index.
    df = run.df.withColumn(col, F.element_at(ids, F.col(col).cast("int") + 1))
    mapping = {i: int(s) for i, s in enumerate(segment_ids)}
    table = run.profiles.table.rename(index=lambda i: mapping.get(int(i), i))
    names = dict(zip(mapping.values(), segment_names, strict=True))
    table["name"] = [names[int(s)] for s in table.index]
    profiles = replace(run.profiles, table=table)
    actions = {str(mapping.get(int(k), k)): v for k, v in run.actions.items()}
    return replace(run, df=df, profiles=profiles, actions=actions)


def export_segmentation(run: SegmentationRun, cfg: SegmentsConfig, out_dir: str | Path,
                        title: str = "bigseg segments") -> SegmentationRun:
    """Audience files (``out_dir/audiences``) and the HTML report (``out_dir/report.html``)."""
    out, checks, segment_col = run.df, run.rule_checks, cfg.behavioural.output_col
    root = Path(out_dir)
    run.audiences = export_audiences(out, segment_col, run.actions, root / "audiences",
                                     formats=cfg.audience_formats,
                                     default_action=cfg.default_action)
    rfm = None
    rfm_rules = cfg.rulesets.get("rfm")
    if "rfm" in checks and rfm_rules is not None and {"r", "fm"} <= set(rfm_rules.inputs):
        rfm = rfm_grid_counts(out, F.expr(rfm_rules.inputs["r"]), F.expr(rfm_rules.inputs["fm"]),
                              rfm_rules.output_col or "segment_rfm")
    run.report = write_report(
        root / "report.html", title=title, profiles=run.profiles, actions=run.actions,
        sweep=run.behavioural.sweep, rfm=rfm, rule_checks=checks,
        projection=sample_for_projection(out, run.behavioural.features_col, segment_col),
    )
    return run
