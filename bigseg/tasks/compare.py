"""The compare task: runs and segment versions side by side, from the tracking store.

``compare.versions`` / ``compare.runs`` name what to compare; with neither, the newest
``compare.last`` committed versions of ``tracking.registered_model`` and the runs that
made them. Tables (config differences, metrics, sizes, stability, migrations) go to
``compare.out`` (default ``paths.reports/compare/<time stamp>``) and into the job's run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bigseg.config import BigsegConfig
from bigseg.tasks.common import job_spark, open_job_run, stamp

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bigseg.tracking.compare import Comparison

log = logging.getLogger(__name__)


def run_compare(cfg: BigsegConfig, spark: SparkSession | None = None) -> Comparison:
    """The compare job."""
    from bigseg.tracking.compare import compare
    from bigseg.tracking.versions import list_segment_versions

    spec = cfg.compare
    if spec.last < 1:
        raise ValueError(f"compare.last={spec.last} should be >= 1")
    name = cfg.tracking.registered_model
    with open_job_run(cfg, "compare") as run:
        versions, run_ids = list(spec.versions), list(spec.runs)
        if not versions and not run_ids:
            newest = list_segment_versions(run.client, name)[-spec.last:]
            if not newest:
                raise LookupError(
                    f"model {name!r} has no committed segment version to compare; run the "
                    f"train or pipeline job first, or name runs in compare.runs"
                )
            versions = [v.version for v in newest]
            run_ids = list(dict.fromkeys(v.run_id for v in newest if v.run_id))
        if versions:
            spark = job_spark(cfg, spark)
        out = Path(spec.out or Path(cfg.paths.reports) / "compare" / stamp(run.run_id))
        result = compare(run.client, out, run_ids=run_ids, model_name=name,
                         versions=versions, spark=spark)
        run.log_artifact(out, "compare")
        for (a, b), migration in result.migrations.items():
            run.log_metrics({f"v{a}_v{b}.ari": migration.ari,
                             f"v{a}_v{b}.stayed_share": migration.stayed_share},
                            family="migration")
        log.info("compared %d runs and versions %s of %s: %s", len(run_ids), versions, name,
                 out)
        return result
