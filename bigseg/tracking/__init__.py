"""MLflow tracking: run logging, the segment model, registry, segment versions.

Modules: ``store`` (tracking URI, reachability, experiments), ``names`` (metric, param
and tag names), ``runs`` (run logging, sweeps), ``segment_transform`` + ``segment_pyfunc``
(the pyfunc model's code, shipped inside every model), ``segment_model`` (logging and
reading it), ``stable_ids`` (ids carried between versions), ``versions`` (the commit
protocol of segment versions), ``migrations``, ``promotion`` (gates and aliases),
``publish`` (a training's new version), ``compare`` (comparison tables).

Importing this package imports neither MLflow nor Spark; the modules import them lazily
or at their own import.
"""

from bigseg.tracking.store import (
    TrackingUnreachableError,
    check_tracking_reachable,
    connect,
    ensure_experiment,
    resolve_tracking_uri,
)

__all__ = [
    "TrackingUnreachableError",
    "check_tracking_reachable",
    "connect",
    "ensure_experiment",
    "resolve_tracking_uri",
]
