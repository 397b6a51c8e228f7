"""Compare runs and segment versions read back from the tracking store.

``compare`` is what ``jobs/compare.py`` calls: it writes

- ``runs.csv``: one row per run: id, name, status, the params that differ between the
  runs (``param.<key>``) and every metric (``<family>/<name>``);
- ``versions.csv``: one row per segment version: rows, number of segments, smallest and
  largest share, sizes, aliases, promotion outcome, and stability against the version
  before it in the list (ARI, share of customers who kept their segment);
- ``migrations/<a>_<b>_*.csv|png``: the migration matrix of each consecutive pair.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bigseg.tracking import names
from bigseg.tracking.migrations import Migration, heatmap, migration_matrix
from bigseg.tracking.versions import get_segment_version

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    runs: pd.DataFrame
    versions: pd.DataFrame
    migrations: dict[tuple[str, str], Migration] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def compare_runs(client: Any, run_ids: Sequence[str], all_params: bool = False) -> pd.DataFrame:
    """One row per run; params only where the runs differ (unless ``all_params``)."""
    runs = [client.get_run(r) for r in run_ids]
    keys = sorted({k for run in runs for k in run.data.params})
    differing = [k for k in keys
                 if all_params or len({run.data.params.get(k) for run in runs}) > 1]
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.info.run_id, "run_name": run.info.run_name,
            "status": run.info.status,
            "parent_run_id": run.data.tags.get("mlflow.parentRunId"),
            "git_commit": run.data.tags.get(names.TAG_GIT_COMMIT),
        }
        row.update({f"param.{k}": run.data.params.get(k) for k in differing})
        row.update(dict(sorted(run.data.metrics.items())))
        rows.append(row)
    return pd.DataFrame(rows)


def compare_versions(
    client: Any,
    name: str,
    versions: Sequence[str | int],
    spark: SparkSession | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], Migration]]:
    """One row per version (numbers or aliases), with stability against the previous row
    when a SparkSession is given (migrations need the tables)."""
    found = [get_segment_version(client, name, v) for v in versions]
    rows, migrations = [], {}
    for i, v in enumerate(found):
        shares = v.shares
        row: dict[str, Any] = {
            "version": v.version, "aliases": ",".join(v.aliases), "as_of": v.as_of,
            "rows": v.rows, "segments": len(v.sizes),
            "min_share": min(shares.values()) if shares else None,
            "max_share": max(shares.values()) if shares else None,
            "sizes": json.dumps({str(k): n for k, n in sorted(v.sizes.items())}),
            "promotion_passed": v.tags.get(names.TAG_PROMOTION_PASSED),
            "promotion_reasons": v.tags.get(names.TAG_PROMOTION_REASONS),
            "run_id": v.run_id, "path": v.path,
        }
        if spark is not None and i > 0:
            before = found[i - 1]
            migration = migration_matrix(before.read(spark), v.read(spark))
            migrations[(before.version, v.version)] = migration
            row.update({"compared_to": before.version, "ari": migration.ari,
                        "stayed_share": migration.stayed_share})
        rows.append(row)
    return pd.DataFrame(rows), migrations


def compare(
    client: Any,
    out_dir: str | Path,
    *,
    run_ids: Sequence[str] = (),
    model_name: str | None = None,
    versions: Sequence[str | int] = (),
    spark: SparkSession | None = None,
) -> Comparison:
    """Read runs and versions from the tracking store and write the comparison tables."""
    if not run_ids and not versions:
        raise ValueError("compare needs run_ids or versions (with model_name); got neither")
    if versions and not model_name:
        raise ValueError(f"versions={list(versions)} need a model_name")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = compare_runs(client, run_ids) if run_ids else pd.DataFrame()
    table, migrations = (compare_versions(client, model_name, versions, spark)  # type: ignore
                         if versions else (pd.DataFrame(), {}))
    files = []
    if not runs.empty:
        runs.to_csv(out / "runs.csv", index=False)
        files.append(out / "runs.csv")
    if not table.empty:
        table.to_csv(out / "versions.csv", index=False)
        files.append(out / "versions.csv")
    for (a, b), migration in migrations.items():
        stem = out / "migrations" / f"v{a}_v{b}"
        stem.parent.mkdir(exist_ok=True)
        migration.long_table().to_csv(f"{stem}_pairs.csv", index=False)
        files += [Path(f"{stem}_pairs.csv"),
                  heatmap(migration, f"{stem}_heatmap.png", f"{model_name} v{a} -> v{b}")]
    log.info("comparison written to %s (%d files)", out, len(files))
    return Comparison(runs, table, migrations, files)
