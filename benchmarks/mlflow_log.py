"""The run in MLflow: experiment ``bigseg-benchmarks``, one parent run per ``benchmarks.run``
(params: preset, suite, commit, machine; the summary as metrics; the result folder as
artifacts) and one child run per (suite, system) whose metrics are the rows, step = the
row's index in that series (n, d, k and workers are logged at the same step).

Default store: SQLite at ``$BIGSEG_HOME/benchmarks/mlflow.db`` (``./outputs`` without
BIGSEG_HOME; ignored by git), artifacts in ``artifacts/`` beside it.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger("bigseg.benchmarks.mlflow")


def tracking_uri(configured: str | None) -> str:
    if configured:
        return configured
    folder = (Path(os.environ.get("BIGSEG_HOME", "outputs")) / "benchmarks").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Beside a SQLite store (MLflow's default would be ./mlruns wherever one runs)."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / experiment).as_uri()


def numeric(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)}


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def log_run(*, uri: str, experiment: str, run_name: str, params: dict, summary: dict,
            rows: list[dict], folder: Path) -> str:
    """Log the run; returns the parent run's id."""
    from bigseg.tracking.runs import child_run, tracked_run

    location = artifact_location(uri, experiment)
    with tracked_run(uri, experiment, run_name, job="benchmarks",
                     artifact_location=location) as parent:
        parent.log_params(params)
        parent.log_metrics(numeric(flatten(summary)))
        series: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            series.setdefault((row["suite"], row["system"]), []).append(row)
        for (suite, system), mine in series.items():
            with child_run(parent, f"{suite}/{system}", uri, experiment,
                           artifact_location=location) as child:
                child.log_params({"suite": suite, "system": system})
                for step, row in enumerate(mine):
                    child.log_metrics(numeric(row), step=step)
        for path in sorted(folder.iterdir()):
            if path.is_file():
                parent.log_artifact(path)
        run_id = parent.run_id
    log.info("MLflow: experiment %r run %s at %s", experiment, run_id, uri)
    return run_id
