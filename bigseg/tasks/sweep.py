"""Hydra multirun (``-m model.k=8,16,32``) as one parent MLflow run with a child per job.

Registered as a Hydra callback by the root configs (``hydra.callbacks.mlflow_sweep``): at
the start of a multirun it opens the parent run in the job's experiment and publishes its
id in ``BIGSEG_PARENT_RUN_ID``; every job of the sweep then opens its run as a child of it
(bigseg.tasks.common.open_job_run); at the end the parent is closed, FINISHED (or FAILED
when a job failed and the process exits early).
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from bigseg.tasks.common import PARENT_RUN_ENV

log = logging.getLogger(__name__)


def _without_hydra(config: DictConfig) -> DictConfig:
    cfg = OmegaConf.create(OmegaConf.to_container(config, resolve=False))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


class MlflowSweepRun(Callback):
    """Parent run of a Hydra sweep (see the module docstring)."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.client: Any = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        from bigseg.config import to_typed
        from bigseg.tracking import names
        from bigseg.tracking.store import connect, ensure_experiment

        cfg = to_typed(_without_hydra(config))
        if not cfg.tracking.enabled:
            return
        uri = connect(cfg.tracking, cfg.paths)
        experiment_id = ensure_experiment(cfg.tracking.experiment, cfg.tracking, cfg.paths)
        self.client = mlflow.MlflowClient(uri)
        overrides = list(config.hydra.overrides.task)
        run = self.client.create_run(
            experiment_id, run_name=f"{cfg.job}-sweep",
            tags={names.TAG_JOB: cfg.job, names.TAG_SWEEP: "parent",
                  "bigseg.sweep.overrides": " ".join(overrides)[:5000]},
        )
        self.run_id = run.info.run_id
        os.environ[PARENT_RUN_ENV] = self.run_id
        atexit.register(self._close, "FAILED")
        log.info("sweep: parent MLflow run %s (%s)", self.run_id, " ".join(overrides))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._close("FINISHED")

    def _close(self, status: str) -> None:
        if self.run_id is None:
            return
        run_id, self.run_id = self.run_id, None
        os.environ.pop(PARENT_RUN_ENV, None)
        self.client.set_terminated(run_id, status)
        log.info("sweep: parent run %s %s", run_id, status.lower())
