"""Resolve the tracking store from config and create experiments with an absolute
artifact location (MLflow's default, ./mlruns in the working directory, would scatter
artifacts wherever a job happened to start)."""

from __future__ import annotations

import logging
from pathlib import Path

from bigseg.config import PathsConfig, TrackingConfig

log = logging.getLogger(__name__)


def resolve_tracking_uri(tracking: TrackingConfig, paths: PathsConfig) -> str:
    """The configured URI, or a SQLite store at ``<paths.mlflow>/mlflow.db``."""
    if tracking.uri:
        return tracking.uri
    folder = Path(paths.mlflow)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def default_artifact_location(tracking: TrackingConfig, paths: PathsConfig) -> str | None:
    """Artifacts beside a local store; a server decides for itself (None)."""
    if tracking.artifact_location:
        return tracking.artifact_location
    if tracking.uri and not tracking.uri.startswith(("sqlite:", "file:")):
        return None
    return (Path(paths.mlflow) / "artifacts").resolve().as_uri()


def ensure_experiment(
    name: str, tracking: TrackingConfig, paths: PathsConfig, client=None
) -> str:
    """Return the id of experiment ``name``, creating it with bigseg's artifact location."""
    import mlflow

    client = client or mlflow.MlflowClient(resolve_tracking_uri(tracking, paths))
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = default_artifact_location(tracking, paths)
    if location:
        location = f"{location.rstrip('/')}/{name}"
    experiment_id = client.create_experiment(name, artifact_location=location)
    log.info("created MLflow experiment %r (%s) at %s", name, experiment_id, location)
    return experiment_id
