"""Promotion of a segment version to ``champion`` through configurable gates.

Each gate of :class:`bigseg.config.PromotionGatesConfig` that is set gives a pass or a
fail with its reason; all are recorded on the version as tags
(``bigseg.promotion.gate.<gate>``, ``bigseg.promotion.passed``,
``bigseg.promotion.reasons``), whatever the outcome, so the registry says why a version
is or is not live. Only a version that passes every gate gets the champion alias.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bigseg.config import PromotionGatesConfig
from bigseg.tracking import names
from bigseg.tracking.migrations import Migration, migration_matrix
from bigseg.tracking.versions import SegmentVersion, get_segment_version

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MAX_TAG_CHARS = 5000


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class PromotionDecision:
    """The outcome for one version; ``champion_before`` is the version it was compared to."""

    name: str
    version: str
    passed: bool
    gates: tuple[GateResult, ...]
    champion_before: str | None
    migration: Migration | None = None

    @property
    def reasons(self) -> list[str]:
        return [f"{g.gate}: {g.reason}" for g in self.gates if not g.passed]


def check_gates(gates: PromotionGatesConfig) -> None:
    """Validate the gate values once; messages name the value and the rule."""
    for gate in ("min_stability_ari",):
        value = getattr(gates, gate)
        if value is not None and not -1.0 <= value <= 1.0:
            raise ValueError(f"{gate}={value} should be within [-1, 1] or null")
    for gate in ("min_segment_share", "max_segment_share"):
        value = getattr(gates, gate)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{gate}={value} should be within [0, 1] or null")


def evaluate_gates(
    gates: PromotionGatesConfig,
    shares: Mapping[int, float],
    stability_ari: float | None,
    metrics: Mapping[str, float],
) -> list[GateResult]:
    """The result of every gate that is set (pure: no registry, no Spark).

    ``stability_ari`` is None when there is no champion to compare with: the stability
    gate then passes (a first version has nothing to be stable against).
    """
    check_gates(gates)
    results: list[GateResult] = []
    if gates.min_stability_ari is not None:
        if stability_ari is None:
            results.append(GateResult("min_stability_ari", True, "no champion to compare with"))
        else:
            ok = stability_ari >= gates.min_stability_ari
            results.append(GateResult(
                "min_stability_ari", ok,
                f"ARI {stability_ari:.4f} {'>=' if ok else '<'} {gates.min_stability_ari}"))
    if gates.min_segment_share is not None:
        low = {k: v for k, v in shares.items() if v < gates.min_segment_share}
        smallest = min(shares.values()) if shares else 0.0
        results.append(GateResult(
            "min_segment_share", not low and bool(shares),
            (f"segments {sorted(low)} below {gates.min_segment_share} "
             f"(smallest share {smallest:.4f})") if low or not shares
            else f"smallest share {smallest:.4f} >= {gates.min_segment_share}"))
    if gates.max_segment_share is not None:
        high = {k: v for k, v in shares.items() if v > gates.max_segment_share}
        largest = max(shares.values()) if shares else 0.0
        results.append(GateResult(
            "max_segment_share", not high,
            f"segments {sorted(high)} above {gates.max_segment_share} "
            f"(largest share {largest:.4f})" if high
            else f"largest share {largest:.4f} <= {gates.max_segment_share}"))
    for metric, minimum in sorted(gates.min_metrics.items()):
        value = metrics.get(metric)
        if value is None:
            results.append(GateResult(f"min_metric.{metric}", False,
                                      f"metric {metric!r} was not logged by the run"))
        else:
            ok = value >= minimum
            results.append(GateResult(f"min_metric.{metric}", ok,
                                      f"{metric} {value:.4g} {'>=' if ok else '<'} {minimum}"))
    return results


def _champion(client: Any, name: str, alias: str) -> SegmentVersion | None:
    try:
        return get_segment_version(client, name, alias)
    except LookupError:
        return None


def promote(
    client: Any,
    name: str,
    version: str | int,
    gates: PromotionGatesConfig,
    *,
    spark: SparkSession | None = None,
    champion_alias: str = "champion",
) -> PromotionDecision:
    """Evaluate the gates for ``version``, record them, and move ``champion_alias`` to it
    when all pass. Stability is the ARI between this version's and the champion's
    assignment tables (needs ``spark``)."""
    candidate = get_segment_version(client, name, version)
    if spark is not None:
        candidate = candidate.with_sizes(spark)
    champion = _champion(client, name, champion_alias)
    migration = None
    ari = None
    if champion is not None and champion.version != candidate.version:
        if gates.min_stability_ari is not None:
            if spark is None:
                raise ValueError("min_stability_ari is set: promote needs a SparkSession")
            migration = migration_matrix(champion.read(spark), candidate.read(spark))
            ari = migration.ari
    metrics = client.get_run(candidate.run_id).data.metrics if candidate.run_id else {}
    results = evaluate_gates(gates, candidate.shares, ari, metrics)
    passed = all(r.passed for r in results)
    decision = PromotionDecision(name, candidate.version, passed, tuple(results),
                                 champion.version if champion else None, migration)
    for r in results:
        client.set_model_version_tag(
            name, candidate.version, f"{names.TAG_PROMOTION_GATE}{names.clean(r.gate)}",
            f"{'pass' if r.passed else 'fail'}: {r.reason}"[:MAX_TAG_CHARS])
    client.set_model_version_tag(name, candidate.version, names.TAG_PROMOTION_REASONS,
                                 ("; ".join(decision.reasons) or "all gates passed")
                                 [:MAX_TAG_CHARS])
    client.set_model_version_tag(name, candidate.version, names.TAG_PROMOTION_PASSED,
                                 str(passed).lower())
    if passed:
        client.set_registered_model_alias(name, champion_alias, candidate.version)
        log.info("%s v%s promoted to %s", name, candidate.version, champion_alias)
    else:
        log.warning("%s v%s not promoted: %s", name, candidate.version,
                    "; ".join(decision.reasons))
    return decision
