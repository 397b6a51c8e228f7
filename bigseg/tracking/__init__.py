"""MLflow tracking: where runs go and how experiments are created."""

from bigseg.tracking.store import ensure_experiment, resolve_tracking_uri

__all__ = ["ensure_experiment", "resolve_tracking_uri"]
