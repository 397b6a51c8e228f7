"""Fixtures of the tracking tests: a fresh SQLite store per test, made fast.

Creating an MLflow SQLite store runs its schema migrations (~6 s on this machine); the
store is created once per session and copied to the path of the project's
``tracking_uri`` fixture for each test (~0.1 s), so every test still gets a store of its
own.
"""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def store_template(tmp_path_factory):
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tracking_uri, store_template):
    """A fresh, migrated SQLite tracking store (the project's ``tracking_uri``)."""
    shutil.copy(store_template, tracking_uri.removeprefix("sqlite:///"))
    return tracking_uri


@pytest.fixture
def artifacts(tmp_path):
    """An absolute artifact location for experiments of a SQLite store (MLflow's default,
    ./mlruns, would land in the working directory)."""
    return (tmp_path / "artifacts").as_uri()
