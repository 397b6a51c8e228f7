"""Tracking stores: a dead server fails fast naming its URI; local stores need no probe."""

from __future__ import annotations

import time

import pytest

from bigseg.cluster import free_port
from bigseg.config import compose
from bigseg.tracking.runs import tracked_run
from bigseg.tracking.store import (
    TrackingUnreachableError,
    check_tracking_reachable,
    connect,
    resolve_tracking_uri,
)


def test_unreachable_server_fails_fast_naming_the_uri():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(TrackingUnreachableError, match=f"^{uri} is not reachable"):
        check_tracking_reachable(uri, timeout_s=5)
    assert time.monotonic() - start < 5


def test_tracked_run_fails_before_its_block_runs():
    uri = f"http://127.0.0.1:{free_port()}"
    ran = []
    with pytest.raises(TrackingUnreachableError, match=uri):
        with tracked_run(uri, "never"):
            ran.append(True)
    assert ran == []


def test_connect_checks_the_configured_server(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = compose("pipeline", [f"paths.root={tmp_path}", f"tracking.uri={uri}",
                               "tracking.timeout_s=2"])
    with pytest.raises(TrackingUnreachableError, match=uri):
        connect(cfg.tracking, cfg.paths)


def test_connect_defaults_to_a_local_sqlite_store(tmp_path):
    cfg = compose("pipeline", [f"paths.root={tmp_path}"])
    uri = connect(cfg.tracking, cfg.paths)
    assert uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert uri == resolve_tracking_uri(cfg.tracking, cfg.paths)


def test_a_running_server_passes(mlflow_server):
    check_tracking_reachable(mlflow_server, timeout_s=5)


@pytest.mark.parametrize("group,key,value", [
    ("strict", "promotion.min_stability_ari", 0.6),
    ("strict", "match_max_distance", 2.0),
    ("local", "promotion.min_segment_share", 0.01),
    ("server", "uri", "http://127.0.0.1:5000"),
])
def test_tracking_config_group_composes(tmp_path, group, key, value):
    cfg = compose("pipeline", [f"paths.root={tmp_path}", f"tracking={group}"])
    node = cfg.tracking
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value


def test_misspelt_gate_fails_at_compose(tmp_path):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="min_stabilty_ari"):
        compose("pipeline", [f"paths.root={tmp_path}", "tracking.promotion.min_stabilty_ari=1"])
