"""Quarantine bookkeeping: per-table reports, the threshold check, writing the tables.

Every validated table reports ``rows_in = rows_used + rows_quarantined`` and counts by
reason; a run whose quarantined share of a table exceeds the configured maximum fails
with QuarantineThresholdError naming the table, the reason and an example row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bigseg.io.validation import ValidatedTable

log = logging.getLogger(__name__)

# Columns of every quarantine table.
QUARANTINE_COLUMNS = ("table", "reason", "reasons", "row")


class QuarantineThresholdError(ValueError):
    """Too large a share of a table's rows is quarantined."""


@dataclass
class TableReport:
    """Row accounting of one table: rows_in = rows_used + rows_quarantined."""

    table: str
    rows_in: int
    rows_used: int
    rows_quarantined: int
    # Quarantined rows by their (first) reason; the values add up to rows_quarantined.
    by_reason: dict[str, int] = field(default_factory=dict)
    # One quarantined row (source JSON) per reason, for messages.
    examples: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_used + self.rows_quarantined:
            raise ValueError(
                f"table {self.table!r}: rows_in={self.rows_in} != rows_used={self.rows_used}"
                f" + rows_quarantined={self.rows_quarantined}"
            )
        if sum(self.by_reason.values()) != self.rows_quarantined:
            raise ValueError(
                f"table {self.table!r}: counts by reason {self.by_reason} do not add up to "
                f"rows_quarantined={self.rows_quarantined}"
            )

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def top_reason(self) -> str | None:
        """The most frequent reason (ties broken by name, so messages are stable)."""
        if not self.by_reason:
            return None
        return min(self.by_reason, key=lambda r: (-self.by_reason[r], r))


@dataclass
class QuarantineReport:
    """The reports of every table of one load, in load order."""

    tables: dict[str, TableReport] = field(default_factory=dict)

    def add(self, report: TableReport) -> None:
        self.tables[report.table] = report

    def check_threshold(self, max_share: float) -> None:
        """Raise QuarantineThresholdError for the first table above ``max_share``."""
        for report in self.tables.values():
            check_threshold(report, max_share)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: asdict(r) | {"quarantined_share": r.quarantined_share}
            for name, r in self.tables.items()
        }

    def write_json(self, path: str | Path) -> Path:
        """Write the report as JSON (for MLflow artifacts and humans)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path

    def summary(self) -> str:
        """One line per table: in, used, quarantined and the reasons."""
        lines = []
        for r in self.tables.values():
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(r.by_reason.items()))
            lines.append(
                f"{r.table}: rows_in={r.rows_in} rows_used={r.rows_used} "
                f"rows_quarantined={r.rows_quarantined}" + (f" ({reasons})" if reasons else "")
            )
        return "\n".join(lines)


def check_threshold(report: TableReport, max_share: float) -> None:
    """Fail when more than ``max_share`` of the table's rows were quarantined.

    The message names the table, the share, the most frequent reason and an example row,
    which is usually enough to find the broken column or mapping.
    """
    if not 0.0 <= max_share <= 1.0:
        raise ValueError(f"max_quarantine_share={max_share} should be within [0, 1]")
    share = report.quarantined_share
    if share <= max_share:
        return
    reason = report.top_reason()
    example = report.examples.get(reason or "", "")
    raise QuarantineThresholdError(
        f"table {report.table!r}: {report.rows_quarantined} of {report.rows_in} rows "
        f"({share:.2%}) quarantined, above max_quarantine_share={max_share}; most frequent "
        f"reason {reason!r} ({report.by_reason.get(reason or '', 0)} rows), example row: {example}"
    )


def write_quarantine(tables: dict[str, ValidatedTable], path: str, mode: str = "overwrite") -> str:
    """Write every table's quarantined rows as Parquet under ``path/<table>``.

    Tables with no quarantined rows are written too (empty), so a reader of a run's
    quarantine folder finds every table and need not guess whether one is missing.
    """
    for name, validated in tables.items():
        target = f"{path.rstrip('/')}/{name}"
        validated.quarantine.write.mode(mode).parquet(target)
        log.info("quarantine of %s: %d rows -> %s", name, validated.report.rows_quarantined, target)
    return path
