"""How a job file runs its task: typed config in, one call, a one-line reason on failure.

A job that fails for good (bad config value, unreadable input, unreachable tracking
server, lost driver) exits with status 1 and one line on stderr naming the job and the
reason; the full traceback is logged at DEBUG, or raised with ``BIGSEG_TRACEBACK=1``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from bigseg.config import BigsegConfig, to_typed

log = logging.getLogger(__name__)

TRACEBACK_ENV = "BIGSEG_TRACEBACK"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_job(task: Callable[[BigsegConfig], Any], cfg: DictConfig | BigsegConfig) -> Any:
    """``task(to_typed(cfg))``; on an error, exit 1 with a one-line reason."""
    job = str(getattr(cfg, "job", "job"))
    try:
        return task(to_typed(cfg))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line and exit 1
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        log.debug("the %s job failed", job, exc_info=True)
        reason = one_line(exc)
        log.error("the %s job failed: %s", job, reason)
        print(f"bigseg {job} failed: {reason}", file=sys.stderr)  # noqa: T201 - the CLI's answer
        raise SystemExit(1) from None
