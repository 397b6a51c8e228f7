"""The dates a dynamic segmentation runs at: a list, or start/end/every from config."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta

from bigseg.config import DynamicConfig

log = logging.getLogger(__name__)


def _day(value: str | None, name: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{name}={value!r} should be an ISO date, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a calendar date") from None


def schedule_dates(cfg: DynamicConfig) -> list[date]:
    """``cfg.dates`` (strictly increasing), else start, start + every_days, ... <= end."""
    if cfg.dates:
        days = [_day(d, f"dates[{i}]") for i, d in enumerate(cfg.dates)]
        for i in range(1, len(days)):
            if days[i] <= days[i - 1]:
                raise ValueError(f"dates={list(cfg.dates)} should be strictly increasing")
    else:
        if cfg.start is None or cfg.end is None or cfg.every_days is None:
            raise ValueError(
                "dynamic segmentation needs dates, or start, end and every_days "
                f"(got dates=[], start={cfg.start!r}, end={cfg.end!r}, "
                f"every_days={cfg.every_days!r})"
            )
        start, end = _day(cfg.start, "start"), _day(cfg.end, "end")
        if cfg.every_days < 1:
            raise ValueError(f"every_days={cfg.every_days} should be >= 1")
        if end < start:
            raise ValueError(f"end={cfg.end!r} should not be before start={cfg.start!r}")
        days, day = [], start
        while day <= end:
            days.append(day)
            day += timedelta(days=cfg.every_days)
    if len(days) == 1:
        log.warning("dynamic segmentation at one date (%s): there is no migration to report",
                    days[0])
    return days
