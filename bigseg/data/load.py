"""Load every input table of a run, validate it, and account for every row.

``load_sources`` turns a SourceConfig into validated tables: generated (kind
``synthetic``), the bundled CDNOW sample (``cdnow``) or the user's files and catalog
tables (``files``). Tables are validated in dependency order (customers, identities,
transactions, events, campaign outcomes) so that references are checked against rows
that passed. The quarantine tables and the report are written first (when paths are
given), then the threshold is checked: a run that fails still leaves its quarantine
behind for inspection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from bigseg.config import PathsConfig, SourceConfig, TableSourceConfig
from bigseg.io.contracts import TABLE_ORDER, get_contract
from bigseg.io.quarantine import QuarantineReport, write_quarantine
from bigseg.io.readers import SourceError, read_table
from bigseg.io.validation import ValidatedTable, validate

log = logging.getLogger(__name__)

KINDS = ("synthetic", "cdnow", "files")
# Tables other tables are checked against: cached so each is computed once.
_REFERENCED = {r.target for t in TABLE_ORDER for r in get_contract(t).references}


@dataclass
class LoadedSources:
    """The validated input of a run.

    ``tables``: used rows per contract table (absent optional tables are missing);
    ``validated``: the full outcome per table (used, quarantine, report);
    ``extras``: tables beside the contract, e.g. the generator's ``ground_truth``.
    """

    tables: dict[str, DataFrame]
    validated: dict[str, ValidatedTable]
    report: QuarantineReport
    extras: dict[str, DataFrame] = field(default_factory=dict)

    @property
    def quarantine(self) -> dict[str, DataFrame]:
        return {name: v.quarantine for name, v in self.validated.items()}

    def unpersist(self) -> None:
        for validated in self.validated.values():
            validated.unpersist()


def load_sources(
    spark: SparkSession,
    cfg: SourceConfig,
    paths: PathsConfig | None = None,
    *,
    check_threshold: bool = True,
    persist: bool = True,
) -> LoadedSources:
    """Read (or generate), validate, write quarantine + report, check the threshold.

    With ``paths``, quarantined rows go to ``paths.quarantine/<table>`` (Parquet) and the
    report to ``paths.reports/quarantine.json``. ``persist`` (default) caches every
    validated table (memory, spilling to disk): the report, the quarantine writer and
    the feature jobs then share one validation pass instead of each repeating its joins
    and sorts. Referenced tables are cached either way; ``LoadedSources.unpersist()``
    releases them.
    """
    if cfg.kind not in KINDS:
        raise ValueError(f"source.kind={cfg.kind!r} should be one of {list(KINDS)}")
    if not 0.0 <= cfg.max_quarantine_share <= 1.0:
        raise ValueError(f"max_quarantine_share={cfg.max_quarantine_share} should be within [0, 1]")
    raw, extras = _raw_tables(spark, cfg)
    validated: dict[str, ValidatedTable] = {}
    report = QuarantineReport()
    for name in TABLE_ORDER:
        if name not in raw:
            continue
        refs = {
            r.target: validated[r.target].used
            for r in get_contract(name).references
            if r.target in validated
        }
        result = validate(
            raw[name],
            name,
            as_of=cfg.as_of,
            references=refs,
            persist=persist or name in _REFERENCED,
        )
        validated[name] = result
        report.add(result.report)
    log.info("quarantine report:\n%s", report.summary())
    if paths is not None:
        write_quarantine(validated, paths.quarantine)
        report.write_json(f"{paths.reports}/quarantine.json")
    if check_threshold:
        report.check_threshold(cfg.max_quarantine_share)
    return LoadedSources({n: v.used for n, v in validated.items()}, validated, report, extras)


def _raw_tables(
    spark: SparkSession, cfg: SourceConfig
) -> tuple[dict[str, DataFrame], dict[str, DataFrame]]:
    """The unvalidated contract tables of the configured kind, and any extra tables."""
    if cfg.kind == "synthetic":
        from bigseg.data.synthetic import generate

        generated = generate(spark, cfg.synthetic)
        return {n: generated[n] for n in TABLE_ORDER}, {
            n: df for n, df in generated.items() if n not in TABLE_ORDER
        }
    if cfg.kind == "cdnow":
        from bigseg.data.cdnow import load_cdnow

        return load_cdnow(spark, cfg.transactions), {}
    tables = {}
    for name in TABLE_ORDER:
        table_cfg: TableSourceConfig = getattr(cfg, name)
        if not table_cfg.path and not table_cfg.table:
            if table_cfg.required:
                raise SourceError(
                    f"table {name!r} is required but has no source: set source.{name}.path or "
                    f"source.{name}.table (or source.{name}.required=false)"
                )
            log.info("table %s: no source configured, skipped (optional)", name)
            continue
        tables[name] = read_table(spark, table_cfg, name)
    return tables, {}
