"""Shared fixtures: one real local SparkSession per test run, a real loopback standalone
cluster for `cluster` tests, a real `mlflow server`, and a fresh SQLite MLflow store.

One JVM holds one SparkContext, so the local session and the cluster session cannot live
side by side: cluster tests are moved to the end of the run and the switch happens once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from bigseg.config import SparkConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

LOCAL_SPARK = SparkConfig(
    master="local[2]",
    app_name="bigseg-tests",
    shuffle_partitions=4,
    show_progress=False,
    log_level="ERROR",
    conf={"spark.ui.enabled": "false", "spark.driver.memory": "2g"},
)


def gpu_available() -> bool:
    try:
        import faiss

        if faiss.get_num_gpus() > 0:
            return True
    except Exception:  # noqa: BLE001 - no FAISS GPU build is a "no"
        pass
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config, items):
    # Cluster tests last, so the local session is replaced by the cluster one only once.
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)
    if not gpu_available():
        skip_gpu = pytest.mark.skip(reason="no CUDA GPU visible (faiss-gpu / torch.cuda)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip_gpu)


class _SparkHolder:
    session = None
    kind: str | None = None


def _activate(kind: str, cfg: SparkConfig):
    from bigseg.session import get_spark

    if _SparkHolder.session is not None and _SparkHolder.kind != kind:
        _SparkHolder.session.stop()
        _SparkHolder.session = None
    if _SparkHolder.session is None:
        _SparkHolder.session = get_spark(cfg)
        _SparkHolder.kind = kind
    return _SparkHolder.session


def release_cluster_session() -> None:
    """Stop the cluster session, if any, so another application can take the cores."""
    if _SparkHolder.kind == "cluster" and _SparkHolder.session is not None:
        _SparkHolder.session.stop()
        _SparkHolder.session = None


@pytest.fixture
def spark():
    """The shared local[2] SparkSession."""
    return _activate("local", LOCAL_SPARK)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory):
    """A standalone master + 2 workers (1 core, 1.5g each) on 127.0.0.1, stopped by PID."""
    from bigseg.cluster import LocalCluster

    cluster = LocalCluster(
        tmp_path_factory.mktemp("cluster"),
        n_workers=2,
        cores=1,
        memory="1536m",
        master_port=0,
        webui_port=0,
    )
    cluster.start()
    yield cluster
    release_cluster_session()
    cluster.stop()


@pytest.fixture
def idle_cluster(local_cluster):
    """The loopback cluster with no session of ours holding its cores (for spark-submit)."""
    release_cluster_session()
    return local_cluster


@pytest.fixture
def cluster_spark(local_cluster):
    """A SparkSession whose executors run on the loopback standalone cluster."""
    cfg = SparkConfig(
        master=local_cluster.state.master_url,
        app_name="bigseg-cluster-tests",
        shuffle_partitions=4,
        show_progress=False,
        log_level="ERROR",
        conf={
            "spark.ui.enabled": "false",
            "spark.executor.memory": "1g",
            "spark.executor.cores": "1",
            "spark.cores.max": "2",
        },
    )
    return _activate("cluster", cfg)


@pytest.fixture
def tracking_uri(tmp_path):
    """A fresh SQLite MLflow store for one test."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, artifacts in a temp dir)."""
    from support import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    url = server.start()
    yield url
    server.stop()
