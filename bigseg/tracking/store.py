"""Resolve the tracking store from config, check it is reachable, and create experiments
with an absolute artifact location (MLflow's default, ./mlruns in the working directory,
would scatter artifacts wherever a job happened to start)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path

from bigseg.config import PathsConfig, TrackingConfig

log = logging.getLogger(__name__)

REMOTE_SCHEMES = ("http://", "https://")


class TrackingUnreachableError(RuntimeError):
    """The configured tracking server does not answer; raised before any computation."""


def resolve_tracking_uri(tracking: TrackingConfig, paths: PathsConfig) -> str:
    """The configured URI, or a SQLite store at ``<paths.mlflow>/mlflow.db``."""
    if tracking.uri:
        return tracking.uri
    folder = Path(paths.mlflow)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def check_tracking_reachable(uri: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`TrackingUnreachableError` naming ``uri`` when a server does not answer.

    Only http(s) servers are probed (``<uri>/health``); local stores (sqlite:, file:,
    a path) are created on first use and need no probe. MLflow's own client retries a
    dead server for minutes, so jobs call this first: one short request gives the answer
    before any Spark work starts.
    """
    if not uri.startswith(REMOTE_SCHEMES):
        return
    url = f"{uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise TrackingUnreachableError(
            f"{uri} is not reachable: GET {url} answered HTTP {exc.code} {exc.reason} "
            f"(MLflow tracking server health check)"
        ) from exc
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnreachableError(
            f"{uri} is not reachable: {reason} (MLflow tracking server health check "
            f"{url}, {timeout_s:g}s timeout; set tracking.uri to a running server, or "
            f"null for a local SQLite store)"
        ) from exc


def connect(tracking: TrackingConfig, paths: PathsConfig) -> str:
    """The tracking URI, checked reachable; call it first thing in a job."""
    uri = resolve_tracking_uri(tracking, paths)
    check_tracking_reachable(uri, tracking.timeout_s)
    return uri


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
