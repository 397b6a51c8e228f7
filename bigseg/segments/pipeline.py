"""One call from a customer feature table to segments people can act on.

``segment_customers(df, cfg, out_dir)`` runs, in order: the configured rule sets (one
segment column each), the behavioural k-means segments (k from the sweep unless fixed),
their profiles and names, the playbook's actions, and with ``out_dir`` the audience files
and the HTML report. A job or task turns its config into this call and nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

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


def segment_customers(df: DataFrame, cfg: SegmentsConfig, out_dir: str | Path | None = None,
                      title: str = "bigseg segments") -> SegmentationRun:
    """Rules, behavioural segments, profiles, actions; audiences and report in out_dir."""
    ruled, checks = apply_rules(df, cfg)
    behaviour = behavioural_segments(ruled, cfg.behavioural, cfg.sweep)
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
    if out_dir is None:
        return run
    root = Path(out_dir)
    run.audiences = export_audiences(out, segment_col, actions, root / "audiences",
                                     formats=cfg.audience_formats,
                                     default_action=cfg.default_action)
    rfm = None
    rfm_rules = cfg.rulesets.get("rfm")
    if "rfm" in checks and rfm_rules is not None and {"r", "fm"} <= set(rfm_rules.inputs):
        rfm = rfm_grid_counts(out, F.expr(rfm_rules.inputs["r"]), F.expr(rfm_rules.inputs["fm"]),
                              rfm_rules.output_col or "segment_rfm")
    run.report = write_report(
        root / "report.html", title=title, profiles=profiles, actions=actions,
        sweep=behaviour.sweep, rfm=rfm, rule_checks=checks,
        projection=sample_for_projection(out, behaviour.features_col, segment_col),
    )
    return run
