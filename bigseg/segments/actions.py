"""The playbook: which action each segment gets.

Entries are tried in order; the first that matches a segment gives its action:

- ``{segment: "At Risk", action: ...}``: the segment id or its name, exactly;
- ``{name_contains: "lapsed", action: ...}``: a word of the (generated) name;
- ``{trait: {recency_days: high}, action: ...}``: every listed feature is high (index >=
  high_index) or low (index <= low_index) in the segment's profile.

Actions are templates: ``{name}``, ``{segment}`` and ``{top_feature}`` are filled in.
Segments no entry matches get ``default_action``.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from typing import Any

from bigseg.config import ProfileConfig

log = logging.getLogger(__name__)

MATCHERS = ("segment", "name_contains", "trait")
FIELDS = ("name", "segment", "top_feature")


def check_playbook(playbook: Sequence[Mapping[str, Any]]) -> None:
    """Each entry has an action, exactly one matcher, and only known template fields."""
    for i, entry in enumerate(playbook):
        if not isinstance(entry, Mapping) or not entry.get("action"):
            raise ValueError(f"playbook entry #{i} needs an `action`, got {entry!r}")
        matchers = [m for m in MATCHERS if m in entry]
        if len(matchers) != 1:
            raise ValueError(f"playbook entry #{i} should have exactly one of {MATCHERS}, "
                             f"got {sorted(entry)}")
        unknown = [f for _, f, _, _ in string.Formatter().parse(entry["action"])
                   if f is not None and f not in FIELDS]
        if unknown:
            raise ValueError(f"playbook entry #{i}: action {entry['action']!r} uses "
                             f"{unknown}; templates may use {FIELDS}")
        trait = entry.get("trait")
        if trait is not None and (not isinstance(trait, Mapping) or not trait
                                  or set(trait.values()) - {"high", "low"}):
            raise ValueError(f"playbook entry #{i}: trait should map features to 'high' or "
                             f"'low', got {trait!r}")


def _has_trait(profile: Mapping[str, Any], trait: Mapping[str, str], cfg: ProfileConfig) -> bool:
    for feature, direction in trait.items():
        index = profile.get(f"index_{feature}")
        if index is None:
            return False
        if direction == "high" and not index >= cfg.high_index:
            return False
        if direction == "low" and not index <= cfg.low_index:
            return False
    return True


def action_for(segment: str, name: str, playbook: Sequence[Mapping[str, Any]],
               default_action: str, profile: Mapping[str, Any] | None = None,
               cfg: ProfileConfig | None = None) -> str:
    """The action of one segment (``profile``: its row of SegmentProfiles.table)."""
    cfg = cfg or ProfileConfig()
    profile = profile or {}
    top = list(profile.get("top_features") or [""])
    for entry in playbook:
        if "segment" in entry:
            hit = str(entry["segment"]) in (str(segment), str(name))
        elif "name_contains" in entry:
            hit = str(entry["name_contains"]).lower() in str(name).lower()
        else:
            hit = bool(profile) and _has_trait(profile, entry["trait"], cfg)
        if hit:
            return entry["action"].format(name=name, segment=segment, top_feature=top[0])
    return default_action.format(name=name, segment=segment, top_feature=top[0])


def suggest_actions(segments: Sequence[str] | Any, playbook: Sequence[Mapping[str, Any]],
                    default_action: str = "monitor", cfg: ProfileConfig | None = None
                    ) -> dict[str, str]:
    """Segment -> action, from a list of segment names (rule sets) or SegmentProfiles."""
    check_playbook(playbook)
    if hasattr(segments, "table"):
        table = segments.table
        return {str(s): action_for(str(s), row["name"], playbook, default_action,
                                   row.to_dict(), cfg)
                for s, row in table.iterrows()}
    return {str(s): action_for(str(s), str(s), playbook, default_action) for s in segments}
