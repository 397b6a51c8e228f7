"""One place for the names bigseg logs under, so runs of every job compare column by
column in the MLflow UI (``quality/silhouette`` in a train run and in a sweep child are
the same column).

Metrics: ``<family>/<name>``; params: the flattened config keys (``model.k``); tags:
``bigseg.<name>``. MLflow accepts letters, digits and ``_ - . / space`` in keys; anything
else is replaced by ``_``.
"""

from __future__ import annotations

import re

# Per-iteration k-means history, logged with step = iteration (0-based).
ITERATION = "iter"
QUALITY = "quality"
TIMING = "timing"
THROUGHPUT = "throughput"
QUARANTINE = "quarantine"
MIGRATION = "migration"
SEGMENTS = "segments"

TAG_PREFIX = "bigseg."
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_GIT_DIRTY = "bigseg.git.dirty"
TAG_JOB = "bigseg.job"
TAG_SWEEP = "bigseg.sweep"

# Model-version tags of a segment version.
TAG_TABLE_PATH = "bigseg.segments.path"
TAG_TABLE_ROWS = "bigseg.segments.rows"
TAG_AS_OF = "bigseg.segments.as_of"
TAG_STATE = "bigseg.segments.state"
TAG_SIZES = "bigseg.segments.sizes"
TAG_PARENT_VERSION = "bigseg.segments.previous_version"
TAG_PROMOTION_PASSED = "bigseg.promotion.passed"
TAG_PROMOTION_REASONS = "bigseg.promotion.reasons"
TAG_PROMOTION_GATE = "bigseg.promotion.gate."
STATE_COMMITTED = "committed"

_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")


def clean(key: str) -> str:
    """``key`` with characters MLflow refuses in names replaced by ``_``."""
    return _BAD.sub("_", str(key))


def metric(family: str, name: str) -> str:
    """``<family>/<name>``, e.g. ``metric("timing", "fit_s") == "timing/fit_s"``."""
    return f"{family}/{clean(name)}"


def timing(stage: str) -> str:
    return metric(TIMING, f"{stage}_s")


def throughput(stage: str) -> str:
    return metric(THROUGHPUT, f"{stage}_rows_per_s")


def quarantine(table: str, what: str) -> str:
    return metric(QUARANTINE, f"{table}.{what}")
