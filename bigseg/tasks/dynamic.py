"""The dynamic task: segment versions as of a series of dates, their migrations, tracked.

One MLflow run (the parent) holds the config, per-date segment sizes as step metrics,
the migration matrices and heatmaps, the path values and the trends; each date is a
child run whose segment model becomes a version of ``dynamic.registered_model``. On
generated data the planted moves are compared with what the matrices report
(``planted/<from>-to-<to>.recovered_rate``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bigseg.config import BigsegConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bigseg.effects.dynamic import DynamicReport

log = logging.getLogger(__name__)


@dataclass
class DynamicResult:
    run_id: str
    report: DynamicReport
    out: str
    files: dict[str, str] = field(default_factory=dict)
    # On generated data: planted moves against the rates the migrations report.
    recovered: pd.DataFrame = field(default_factory=pd.DataFrame)


def run_dynamic(cfg: BigsegConfig, spark: SparkSession | None = None) -> DynamicResult:
    """Run ``cfg.dynamic`` on the data of ``cfg.source``; see the module docstring."""
    from bigseg.effects.schedule import schedule_dates
    from bigseg.tracking.runs import job_run
    from bigseg.tracking.store import resolve_tracking_uri

    if not cfg.tracking.enabled:
        raise ValueError("dynamic segmentation publishes segment versions to the MLflow "
                         "registry: tracking.enabled should be true")
    schedule_dates(cfg.dynamic)  # a bad schedule fails before any work
    if spark is None:
        from bigseg.session import get_spark

        spark = get_spark(cfg.spark)
    with job_run(cfg.tracking, cfg.paths, "dynamic", run_name="dynamic") as run:
        run.log_config(cfg)
        return _run(cfg, spark, run, resolve_tracking_uri(cfg.tracking, cfg.paths))


def _run(cfg: BigsegConfig, spark: SparkSession, run, uri: str) -> DynamicResult:
    from bigseg.data.load import load_sources
    from bigseg.effects.dynamic import as_dict, run_dynamic_segmentation
    from bigseg.effects.truth import recovered_migrations

    sources = load_sources(spark, cfg.source, cfg.paths)
    run.log_quarantine(sources.report.to_dict())
    report = run_dynamic_segmentation(
        spark, sources.tables, features=cfg.features, model=cfg.model, dynamic=cfg.dynamic,
        run=run, tracking_uri=uri, experiment=cfg.tracking.experiment,
        segments_root=cfg.tracking.segments_path or cfg.paths.segments,
        features_root=f"{cfg.paths.features}/dynamic/{run.run_id}",
        profile=cfg.segments.profile, match_max_distance=cfg.tracking.match_max_distance)
    out = cfg.dynamic.out or f"{cfg.paths.reports}/dynamic/{run.run_id}"
    files = {k: str(v) for k, v in report.save(out).items()}
    summary = Path(out) / "versions.json"
    summary.write_text(json.dumps(as_dict(report), indent=2))
    files["versions"] = str(summary)
    recovered = pd.DataFrame()
    extras = sources.extras
    if {"ground_truth", "customer_migrations", "planted_migrations"} <= set(extras):
        recovered = recovered_migrations(spark, report, extras["ground_truth"],
                                         extras["customer_migrations"],
                                         extras["planted_migrations"])
        if not recovered.empty:
            recovered.to_csv(Path(out) / "planted_migrations.csv", index=False)
            files["planted"] = str(Path(out) / "planted_migrations.csv")
            run.log_metrics({f"{r.from_segment}-to-{r.to_segment}.{k}": getattr(r, k)
                             for r in recovered.itertuples(index=False)
                             for k in ("planted_rate", "recovered_rate")}, family="planted")
    for path in files.values():
        run.log_artifact(path, "dynamic")
    sources.unpersist()
    log.info("dynamic segmentation: %d versions; reports in %s", len(report.versions), out)
    return DynamicResult(run_id=run.run_id, report=report, out=out, files=files,
                         recovered=recovered)
