"""What every task shares: its MLflow run, where earlier jobs left their outputs.

A task is the one library call a job makes: it takes the typed config, opens the job's
run (tracking store checked first, so a dead server fails before any Spark work), logs
the resolved config and the git commit, and does its work inside that run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bigseg.config import BigsegConfig

log = logging.getLogger(__name__)

# Set by the sweep callback (bigseg.tasks.sweep) while a Hydra multirun runs: every job of
# the sweep logs as a child of this run.
PARENT_RUN_ENV = "BIGSEG_PARENT_RUN_ID"
METADATA_FILE = "_feature_metadata.json"
_REPO = Path(__file__).resolve().parents[2]


def require_tracking(cfg: BigsegConfig, job: str) -> None:
    if not cfg.tracking.enabled:
        raise ValueError(
            f"the {job} job records segment versions in MLflow, so tracking.enabled=false "
            f"is not allowed; the default tracking store is a local SQLite file under "
            f"paths.mlflow and needs no server"
        )


@contextmanager
def open_job_run(cfg: BigsegConfig, job: str, run_name: str | None = None) -> Iterator:
    """The job's MLflow run (a child of the sweep's run under ``-m``), config and git
    commit logged; yields a :class:`bigseg.tracking.runs.RunLogger`."""
    from bigseg.tracking.runs import job_run

    require_tracking(cfg, job)
    parent = os.environ.get(PARENT_RUN_ENV) or None
    with job_run(cfg.tracking, cfg.paths, job, run_name or job, parent_run_id=parent) as run:
        run.log_config(cfg)
        if (_REPO / ".git").exists():
            run.log_git(_REPO)
        yield run


def job_spark(cfg: BigsegConfig, spark=None):
    """The given SparkSession, else one from ``cfg.spark``; its UI's URL is logged."""
    if spark is None:
        from bigseg.session import get_spark

        spark = get_spark(cfg.spark)
    url = spark.sparkContext.uiWebUrl
    if url:
        log.info("Spark UI: %s", url)
    return spark


def stamp(run_id: str | None = None) -> str:
    """A folder name that sorts by time: ``20261129T201500Z`` (+ ``-<run id prefix>``)."""
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{now}-{run_id[:8]}" if run_id else now


def newest_features(root: str) -> str:
    """The newest complete features table under ``root`` (by its time-stamped name)."""
    folder = Path(root)
    found = sorted(p for p in folder.glob("*") if (p / METADATA_FILE).is_file()
                   and (p / "_SUCCESS").is_file()) if folder.is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"no features table under paths.features={root!r}: run the build_features job "
            f"first, or set inputs.features to a features folder"
        )
    return str(found[-1])


def features_path(cfg: BigsegConfig) -> str:
    """``inputs.features``, checked, or the newest table under paths.features."""
    path = cfg.inputs.features
    if path is None:
        return newest_features(cfg.paths.features)
    if not (Path(path) / METADATA_FILE).is_file():
        raise FileNotFoundError(
            f"inputs.features={path!r} is not a features table: {METADATA_FILE} is missing "
            f"(a build_features output folder has it)"
        )
    return str(Path(path).resolve())


def segments_root(cfg: BigsegConfig) -> str:
    return cfg.tracking.segments_path or cfg.paths.segments
