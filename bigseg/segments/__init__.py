"""Segments people can act on.

- ``rules`` / ``conditions``: rule-based segmentations from conf/segments/rules/*.yaml
  (RFM named segments, value tiers, lifecycle, demographic/geographic grids,
  psychographic groups), compiled to Spark expressions, with coverage and overlap checks;
- ``vectors`` / ``behavioural`` / ``hierarchy``: k-means segments on chosen feature
  groups and weights, macro and micro ("3.12") segments;
- ``profiles``: size, share, revenue share, means, medians, lift, names;
- ``actions`` / ``audiences``: the playbook and per-segment customer exports;
- ``plots`` / ``report``: a self-contained HTML report;
- ``pipeline``: ``segment_customers``, all of the above in one call.

Choosing k and cluster quality live in bigseg.evaluation.
"""

from bigseg.segments.actions import action_for, check_playbook, suggest_actions
from bigseg.segments.audiences import AudienceExport, audience_name, export_audiences
from bigseg.segments.behavioural import BehaviouralSegments, behavioural_segments
from bigseg.segments.hierarchy import HierarchicalSegments, fit_hierarchy
from bigseg.segments.pipeline import SegmentationRun, segment_customers
from bigseg.segments.profiles import SegmentProfiles, profile_segments
from bigseg.segments.report import rfm_grid_counts, sample_for_projection, write_report
from bigseg.segments.rules import (
    RuleCheck,
    RuleCoverageError,
    RuleSegmentation,
    apply_rules,
    apply_ruleset,
    fit_ruleset,
    load_ruleset,
)
from bigseg.segments.vectors import VectorSpec, assemble

__all__ = [
    "AudienceExport",
    "BehaviouralSegments",
    "HierarchicalSegments",
    "RuleCheck",
    "RuleCoverageError",
    "RuleSegmentation",
    "SegmentProfiles",
    "SegmentationRun",
    "VectorSpec",
    "action_for",
    "apply_rules",
    "apply_ruleset",
    "assemble",
    "audience_name",
    "behavioural_segments",
    "check_playbook",
    "export_audiences",
    "fit_hierarchy",
    "fit_ruleset",
    "load_ruleset",
    "profile_segments",
    "rfm_grid_counts",
    "sample_for_projection",
    "segment_customers",
    "suggest_actions",
    "write_report",
]
