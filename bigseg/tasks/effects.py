"""The evaluate task: campaign effects per segment, tracked.

Loads the sources (campaign outcomes included), takes the segments from a committed
segment version, a table, or the generator's planted segments (``effects.segments_from``),
evaluates the effects (bigseg.effects.lift) and writes the table, the plot and a summary
under ``effects.out``; with tracking, one MLflow run holds the config, the metrics
(``effects/<campaign>.<segment>.<figure>``) and those files.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from bigseg.effects.lift import EffectReport

log = logging.getLogger(__name__)

SEGMENT_SOURCES = ("version", "path", "ground_truth")


@dataclass
class EffectsResult:
    run_id: str | None
    report: EffectReport
    out: str
    files: dict[str, str] = field(default_factory=dict)


def run_effects(cfg: BigsegConfig, spark: SparkSession | None = None) -> EffectsResult:
    """Evaluate the campaigns of ``cfg.source`` per segment; see the module docstring."""
    from bigseg.effects.lift import check_config

    check_config(cfg.effects)
    if cfg.effects.segments_from not in SEGMENT_SOURCES:
        raise ValueError(f"effects.segments_from={cfg.effects.segments_from!r} should be one "
                         f"of {list(SEGMENT_SOURCES)}")
    if cfg.effects.segments_from == "path" and not cfg.effects.segments_path:
        raise ValueError("effects.segments_from=path needs effects.segments_path")
    if cfg.tracking.enabled:
        from bigseg.tracking.runs import job_run

        context = job_run(cfg.tracking, cfg.paths, "evaluate", run_name="evaluate")
    else:
        context = nullcontext(None)
    if spark is None:
        from bigseg.session import get_spark

        spark = get_spark(cfg.spark)
    with context as run:
        if run is not None:
            run.log_config(cfg)
        return _run(cfg, spark, run)


def _run(cfg: BigsegConfig, spark: SparkSession, run) -> EffectsResult:
    from bigseg.data.load import load_sources
    from bigseg.effects.lift import evaluate_effects

    sources = load_sources(spark, cfg.source, cfg.paths)
    outcomes = sources.tables.get("campaign_outcomes")
    if outcomes is None:
        raise ValueError(f"source.kind={cfg.source.kind!r} gave no campaign_outcomes table: "
                         "set source.campaign_outcomes.path")
    segments = _segments(spark, cfg, sources)
    report = evaluate_effects(outcomes, segments, cfg.effects)
    run_id = run.run_id if run is not None else None
    out = cfg.effects.out or f"{cfg.paths.reports}/effects/{run_id or time.strftime('%Y%m%dT%H%M%S')}"
    files = {k: str(v) for k, v in report.save(out).items()}
    if run is not None:
        run.log_quarantine(sources.report.to_dict())
        run.log_metrics(report.metrics(), family="effects")
        for path in files.values():
            run.log_artifact(path, "effects")
    sources.unpersist()
    log.info("effects written to %s", out)
    return EffectsResult(run_id=run_id, report=report, out=out, files=files)


def _segments(spark: SparkSession, cfg: BigsegConfig, sources) -> DataFrame:
    """The customers' segments from the configured place."""
    where = cfg.effects.segments_from
    if where == "ground_truth":
        truth = sources.extras.get("ground_truth")
        if truth is None:
            raise ValueError("effects.segments_from=ground_truth needs generated data "
                             f"(source.kind=synthetic), not source.kind={cfg.source.kind!r}")
        return truth
    if where == "path":
        return spark.read.parquet(cfg.effects.segments_path)
    import mlflow

    from bigseg.tracking.store import resolve_tracking_uri
    from bigseg.tracking.versions import get_segment_version

    client = mlflow.MlflowClient(resolve_tracking_uri(cfg.tracking, cfg.paths))
    version = get_segment_version(client, cfg.tracking.registered_model, cfg.effects.version)
    log.info("segments of %s version %s (%s)", version.name, version.version, version.path)
    return version.read(spark)
