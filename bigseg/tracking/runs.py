"""Run logging: what every bigseg job records in its MLflow run.

``tracked_run`` opens a run (a child run when given a parent, for sweeps) and yields a
:class:`RunLogger`, whose methods each log one kind of thing under the names of
:mod:`bigseg.tracking.names`: the resolved config (flattened params + YAML artifact), the
git commit, inputs with digests, per-iteration metrics, quality metrics, stage timings
and throughput, quarantine counts and artifacts.

The logger takes plain values (dicts, lists, paths), so it composes with the engine's
``model.summary.history`` and the feature build's ``counts`` / ``inputs`` / ``timings``
without importing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bigseg.tracking import names
from bigseg.tracking.store import check_tracking_reachable, connect, ensure_experiment

log = logging.getLogger(__name__)

# MLflow limits: param values to 6000 characters, dataset digests to 36.
MAX_PARAM_CHARS = 6000
DIGEST_CHARS = 32


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"k": 8}}`` -> ``{"model.k": 8}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def config_tree(cfg: Any) -> dict[str, Any]:
    """A plain dict from a dataclass config, a DictConfig or a dict (resolved)."""
    from dataclasses import asdict, is_dataclass

    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    if is_dataclass(cfg) and not isinstance(cfg, type):
        return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore
    if isinstance(cfg, Mapping):
        return dict(cfg)
    if is_dataclass(cfg):
        return asdict(cfg)
    raise TypeError(f"cfg={type(cfg).__name__} should be a dataclass, DictConfig or dict")


def param_value(value: Any) -> str:
    """A param as MLflow stores it: JSON for lists/None, truncated at its limit."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > MAX_PARAM_CHARS:
        # MLflow refuses longer values; the YAML artifact keeps the full config.
        text = text[: MAX_PARAM_CHARS - 3] + "..."
    return text


def input_digest(description: Mapping[str, Any]) -> str:
    """A content digest (<= 36 characters, MLflow's limit) of an input's description.

    The description carries the content fingerprint (e.g. rows + an order-independent
    hash from the feature build); hashing its canonical JSON gives one short string that
    changes exactly when the data do.
    """
    text = json.dumps(dict(description), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def git_commit(folder: str | Path = ".") -> tuple[str, bool] | None:
    """(commit, dirty) of the git checkout holding ``folder``, or None outside one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit, bool(status)) if commit else None


@dataclass
class RunLogger:
    """Logs into one active MLflow run (``run_id``); see the module docstring."""

    run_id: str
    client: Any
    timings: dict[str, float] = field(default_factory=dict)

    # -- config and code --------------------------------------------------------------------

    def log_config(self, cfg: Any, artifact: str = "config.yaml") -> dict[str, str]:
        """The resolved config: flattened params and the YAML as an artifact."""
        from omegaconf import OmegaConf

        tree = config_tree(cfg)
        params = {names.clean(k): param_value(v) for k, v in flatten(tree).items()}
        self._log_params(params)
        self.log_text(OmegaConf.to_yaml(OmegaConf.create(tree)), artifact)
        return params

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._log_params({names.clean(k): param_value(v) for k, v in params.items()})

    def _log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        # MLflow takes at most 100 params per batch call.
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def log_git(self, folder: str | Path = ".") -> str | None:
        """The git commit (and whether the checkout had uncommitted changes), if any."""
        found = git_commit(folder)
        if found is None:
            log.info("no git checkout at %s: no commit logged", folder)
            return None
        commit, dirty = found
        self.client.set_tag(self.run_id, names.TAG_GIT_COMMIT, commit)
        self.client.set_tag(self.run_id, names.TAG_GIT_DIRTY, str(dirty).lower())
        return commit

    # -- inputs -----------------------------------------------------------------------------

    def log_inputs(
        self, inputs: Mapping[str, Mapping[str, Any]], context: str = "training"
    ) -> dict[str, str]:
        """Each input as an MLflow dataset with a content digest; returns name -> digest.

        ``inputs``: name -> description, e.g. the feature build's ``metadata.inputs``
        (``{"rows": 10, "xxhash64_sum": "..."}``) plus optional ``path``, ``table`` or
        ``sql`` saying where it came from.
        """
        import mlflow
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.spark_dataset_source import SparkDatasetSource

        if mlflow.active_run() is None or mlflow.active_run().info.run_id != self.run_id:
            raise RuntimeError(
                f"log_inputs needs run {self.run_id} to be the active run (use tracked_run)"
            )
        digests = {}
        for name, description in inputs.items():
            desc = dict(description)
            where = {k: desc.get(k) for k in ("path", "table", "sql") if desc.get(k)}
            if "path" in where:
                source = SparkDatasetSource(path=str(where["path"]))
            elif "table" in where:
                source = SparkDatasetSource(table_name=str(where["table"]))
            else:
                source = SparkDatasetSource(sql=str(where.get("sql", f"bigseg input {name}")))
            digest = input_digest(desc)
            tags = {f"bigseg.{k}": param_value(v) for k, v in desc.items()
                    if k not in ("path", "table", "sql")}
            mlflow.log_input(MetaDataset(source, name=name, digest=digest),
                             context=context, tags=tags or None)
            digests[name] = digest
        return digests

    # -- metrics ----------------------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, Any], family: str | None = None,
                    step: int = 0) -> dict[str, float]:
        """Finite numeric values as metrics (``family/name`` when a family is given)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        logged: dict[str, float] = {}
        for key, value in metrics.items():
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue  # None (e.g. n_changed in jobs mode), strings and NaN are skipped
            name = names.metric(family, key) if family else names.clean(key)
            logged[name] = float(value)
        items = [Metric(k, v, now, step) for k, v in logged.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start:start + 1000])
        return logged

    def log_history(self, history: Sequence[Mapping[str, Any]]) -> int:
        """Per-iteration k-means records (``model.summary.history``) as metric steps
        ``iter/<key>``, step = iteration index; returns the number of iterations."""
        for step, record in enumerate(history):
            self.log_metrics(record, family=names.ITERATION, step=step)
        return len(history)

    def log_quality(self, metrics: Mapping[str, Any]) -> dict[str, float]:
        """Cluster quality (inertia, silhouette, ...) as ``quality/<name>``."""
        return self.log_metrics(metrics, family=names.QUALITY)

    def log_segment_sizes(self, sizes: Mapping[Any, int]) -> dict[str, float]:
        """Customers per segment as ``segments/size.<id>`` and the smallest share."""
        total = sum(sizes.values())
        metrics = {f"size.{k}": v for k, v in sizes.items()}
        if total:
            metrics["min_share"] = min(sizes.values()) / total
            metrics["max_share"] = max(sizes.values()) / total
        metrics["count"] = len(sizes)
        return self.log_metrics(metrics, family=names.SEGMENTS)

    @contextmanager
    def stage(self, name: str, rows: int | None = None) -> Iterator[None]:
        """Time a stage; logs ``timing/<name>_s`` (and throughput when rows are known),
        and says on the driver's log when it starts and how long it took."""
        log.info("stage %s: started%s", name, "" if rows is None else f" ({rows:,} rows)")
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            log.info("stage %s: %.1f s%s", name, seconds,
                     f", {rows / seconds:,.0f} rows/s" if rows and seconds > 0 else "")
            self.log_timings({name: seconds},
                             rows={name: rows} if rows is not None else None)

    def log_timings(self, seconds: Mapping[str, float],
                    rows: Mapping[str, int | None] | None = None) -> dict[str, float]:
        """``timing/<stage>_s`` per stage and ``throughput/<stage>_rows_per_s`` for the
        stages whose row counts are given."""
        metrics = {names.timing(k): v for k, v in seconds.items()}
        for stage, n in (rows or {}).items():
            s = seconds.get(stage)
            if n is not None and s and s > 0:
                metrics[names.throughput(stage)] = n / s
        self.timings.update(seconds)
        return self.log_metrics(metrics)

    def log_quarantine(self, counts: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
        """Row accounting per table (the feature build's ``counts``):
        ``quarantine/<table>.<count>``, reasons as ``quarantine/<table>.reason.<r>``,
        and the quarantined share."""
        metrics: dict[str, Any] = {}
        for table, table_counts in counts.items():
            for key, value in table_counts.items():
                if isinstance(value, Mapping):
                    for reason, n in value.items():
                        metrics[names.quarantine(table, f"reason.{reason}")] = n
                else:
                    metrics[names.quarantine(table, key)] = value
            rows_in = table_counts.get("rows_in")
            if rows_in:
                metrics[names.quarantine(table, "share")] = (
                    table_counts.get("rows_quarantined", 0) / rows_in
                )
        return self.log_metrics(metrics)

    # -- artifacts --------------------------------------------------------------------------

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: Any, artifact_file: str) -> None:
        self.client.log_dict(self.run_id, data, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file or a folder (profiles, the report, the k sweep, centroids, ...)."""
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        else:
            raise FileNotFoundError(f"artifact path={str(path)!r} does not exist")

    def log_centroids(self, centroids: Any, segment_ids: Sequence[int] | None = None,
                      feature_names: Sequence[str] | None = None,
                      artifact_file: str = "segments/centroids.csv") -> None:
        """The centroids as a CSV (one row per segment) for reading in the UI; the model
        keeps the exact float32 arrays."""
        import numpy as np
        import pandas as pd

        C = np.asarray(centroids, dtype=np.float64)
        columns = list(feature_names) if feature_names is not None else [
            f"f{j}" for j in range(C.shape[1])]
        table = pd.DataFrame(C, columns=columns)
        table.insert(0, "segment_id", list(segment_ids) if segment_ids is not None
                     else list(range(C.shape[0])))
        self.log_text(table.to_csv(index=False), artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(self.run_id, figure, artifact_file)


@contextmanager
def tracked_run(
    uri: str,
    experiment: str,
    run_name: str | None = None,
    *,
    job: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    artifact_location: str | None = None,
    timeout_s: float = 10.0,
) -> Iterator[RunLogger]:
    """Open an MLflow run in ``experiment`` at ``uri`` and yield its :class:`RunLogger`.

    The store is checked first (a dead server fails here, naming the URI). With
    ``parent_run_id`` the run is a child (sweeps). The run ends FINISHED, or FAILED when
    the block raises.
    """
    import mlflow

    check_tracking_reachable(uri, timeout_s)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        experiment_id = client.create_experiment(experiment,
                                                 artifact_location=artifact_location)
    else:
        experiment_id = found.experiment_id
    all_tags = dict(tags or {})
    if job:
        all_tags[names.TAG_JOB] = job
    nested = parent_run_id is not None
    if nested:
        all_tags["mlflow.parentRunId"] = parent_run_id
    active = mlflow.active_run()
    if active is not None and (not nested or active.info.run_id != parent_run_id):
        raise RuntimeError(
            f"run {active.info.run_id} is still active; end it before opening another run"
        )
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested,
                          tags=all_tags) as run:
        log.info("MLflow run %s (%s) in experiment %r at %s", run.info.run_id, run_name,
                 experiment, uri)
        yield RunLogger(run.info.run_id, client)


@contextmanager
def child_run(parent: RunLogger, run_name: str, uri: str, experiment: str,
              **kwargs: Any) -> Iterator[RunLogger]:
    """A child run of ``parent`` (one point of a sweep), in the same experiment."""
    with tracked_run(uri, experiment, run_name, parent_run_id=parent.run_id,
                     tags={names.TAG_SWEEP: "child", **kwargs.pop("tags", {})},
                     **kwargs) as child:
        yield child


@contextmanager
def job_run(tracking: Any, paths: Any, job: str, run_name: str | None = None,
            parent_run_id: str | None = None) -> Iterator[RunLogger]:
    """The run of one job from its typed config (``TrackingConfig``, ``PathsConfig``):
    the store is checked reachable first, the experiment gets bigseg's absolute artifact
    location, the run is tagged with the job."""
    uri = connect(tracking, paths)
    ensure_experiment(tracking.experiment, tracking, paths)
    with tracked_run(uri, tracking.experiment, run_name or job, job=job,
                     parent_run_id=parent_run_id, timeout_s=tracking.timeout_s) as run:
        yield run
