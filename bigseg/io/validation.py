"""Row-level validation of contract tables: every bad row goes to quarantine with a reason.

Rules are Spark column expressions (no Python UDFs), checked in this order, because the
order decides which reason a row that breaks several rules is counted under:

1. ``null_key`` - a key column is null or blank;
2. ``unparseable_<column>`` - the source value did not convert (see bigseg.io.readers);
3. ``null_<column>`` - a required column is null;
4. ``future_<column>`` - a timestamp or date after ``as_of`` (default: now);
5. table rules - ``age_out_of_range``, ``amount_not_finite``,
   ``negative_amount_not_return``, ``negative_quantity_not_return``,
   ``discount_out_of_range``, ``revenue_invalid``, ...;
6. references - ``unknown_channel_id`` (transactions, events: no such identity),
   ``unknown_customer_id`` (identities, campaign outcomes: no such customer);
7. ``duplicate_key`` - among rows that pass 1-6, every row of a key but one. The one
   kept is the smallest by the contract's columns, so the choice is deterministic.

A quarantined row carries ``reason`` (the first rule it breaks; counts by reason add up
to the quarantined rows) and ``reasons`` (every rule it breaks, in rule order).

A return is a row whose quantity and amount are both negative; a negative amount with a
non-negative quantity (or the other way round) is not a return and is quarantined.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType
from pyspark.sql.window import Window

from bigseg.io.contracts import TableContract, get_contract
from bigseg.io.quarantine import TableReport
from bigseg.io.readers import SOURCE_COL, UNPARSED_COL

log = logging.getLogger(__name__)

_REASONS = "_reasons"
_REF = "_ref_{}"
_INF = float("inf")


@dataclass(frozen=True)
class Rule:
    """One check: ``bad`` is true for a row that breaks it (null counts as not broken)."""

    reason: str
    bad: Column


@dataclass
class ValidatedTable:
    """The outcome of validating one table.

    ``used``: the rows that passed, in the contract's columns. ``quarantine``: the rows
    that did not, as ``table, reason, reasons, row`` (``row`` = the source row as JSON).
    """

    table: str
    used: DataFrame
    quarantine: DataFrame
    report: TableReport
    _flagged: DataFrame | None = None

    def unpersist(self) -> None:
        """Release the cached flagged rows, when validate(persist=True) cached them."""
        if self._flagged is not None:
            self._flagged.unpersist()


def _any(conditions: list[Column]) -> Column:
    """True when any condition is true (null-safe: a null condition counts as false)."""
    return reduce(lambda a, b: a | b, [F.coalesce(c, F.lit(False)) for c in conditions])


def _not_finite(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | c.isin(_INF, -_INF)


def _table_rules(table: str, columns: set[str]) -> list[Rule]:
    """Rules specific to one table (step 5), for the columns it has."""
    rules: list[Rule] = []
    col = F.col
    if table == "customers":
        rules.append(Rule("age_out_of_range", (col("age") < 0) | (col("age") > 120)))
        rules.append(
            Rule(
                "income_invalid",
                col("income").isNotNull() & (_not_finite(col("income")) | (col("income") < 0)),
            )
        )
        surveys = [c for c in sorted(columns) if c.startswith("survey_")]
        if surveys:
            out = [(col(c) < 1) | (col(c) > 5) | F.isnan(col(c)) for c in surveys]
            rules.append(Rule("survey_score_out_of_range", _any(out)))
        rules.append(Rule("city_tier_out_of_range", ~col("city_tier").between(1, 3)))
    elif table == "transactions":
        amount, quantity = col("amount"), col("quantity")
        rules.append(Rule("amount_not_finite", F.isnan(amount) | amount.isin(_INF, -_INF)))
        rules.append(
            Rule(
                "negative_amount_not_return", (amount < 0) & F.coalesce(quantity >= 0, F.lit(True))
            )
        )
        rules.append(Rule("negative_quantity_not_return", (quantity < 0) & (amount >= 0)))
        rules.append(
            Rule(
                "discount_out_of_range",
                (col("discount") < 0) | (col("discount") > 1) | F.isnan(col("discount")),
            )
        )
    elif table == "campaign_outcomes":
        revenue = col("revenue")
        rules.append(
            Rule("revenue_invalid", revenue.isNotNull() & (_not_finite(revenue) | (revenue < 0)))
        )
    return rules


def rules_for(contract: TableContract, as_of: Column, unparsed: bool = True) -> list[Rule]:
    """Steps 1-5 of the module docstring for ``contract`` (references and duplicates are
    added by validate, which has the reference tables)."""
    col = F.col
    blank = [col(k).isNull() | (F.trim(col(k).cast("string")) == "") for k in contract.keys]
    rules = [Rule("null_key", _any(blank))]
    if unparsed:  # the frame has the readers' _unparsed column
        for c in contract.column_names:
            rules.append(Rule(f"unparseable_{c}", F.array_contains(col(UNPARSED_COL), c)))
    for c in contract.required_columns:
        if c not in contract.keys:
            rules.append(Rule(f"null_{c}", col(c).isNull()))
    for c in contract.time_columns:
        limit = as_of.cast(DateType()) if isinstance(contract.column(c).dtype, DateType) else as_of
        rules.append(Rule(f"future_{c}", col(c) > limit))
    rules.extend(_table_rules(contract.name, set(contract.column_names)))
    return rules


def validate(
    df: DataFrame,
    table: str,
    *,
    as_of: str | None = None,
    references: dict[str, DataFrame] | None = None,
    extra_rules: list[Rule] | None = None,
    persist: bool = False,
) -> ValidatedTable:
    """Check every row of ``df`` against ``table``'s contract; split used from quarantined.

    ``df`` has the contract's columns (from bigseg.io.readers.read_table or the generator;
    reader metadata columns are used when present). ``references`` maps a table name to
    its *used* rows (e.g. ``{"identities": validated_identities.used}``); a reference
    whose target is not given is not checked. ``extra_rules`` run after the table rules.
    One Spark job computes the report; ``persist`` caches the flagged rows so that the
    used and quarantined rows are not recomputed afterwards.
    """
    contract = get_contract(table)
    missing = [c for c in contract.required_columns if c not in df.columns]
    if missing:
        raise ValueError(f"table {table!r}: required columns {missing} missing; got {df.columns}")
    df = _with_metadata(df, contract)
    as_of_col = _as_of(as_of)
    rules = rules_for(contract, as_of_col, UNPARSED_COL in df.columns) + list(extra_rules or [])
    df, ref_rules = _join_references(df, contract, references or {})
    rules += ref_rules
    flags = [F.when(F.coalesce(r.bad, F.lit(False)), F.lit(r.reason)) for r in rules]
    flagged = df.withColumn(_REASONS, F.array_compact(F.array(*flags)))
    flagged = _flag_duplicates(flagged, contract)
    flagged = flagged.withColumn("reason", F.try_element_at(F.col(_REASONS), F.lit(1)))
    if persist:
        flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
    report = _report(flagged, table, _row_json(flagged, contract))
    clean = F.size(F.col(_REASONS)) == 0
    used = flagged.filter(clean).select(*contract.column_names)
    quarantine = flagged.filter(~clean).select(
        F.lit(table).alias("table"),
        F.col("reason"),
        F.col(_REASONS).alias("reasons"),
        _row_json(flagged, contract).alias("row"),
    )
    log.info(
        "%s: rows_in=%d rows_used=%d rows_quarantined=%d %s",
        table,
        report.rows_in,
        report.rows_used,
        report.rows_quarantined,
        report.by_reason,
    )
    return ValidatedTable(table, used, quarantine, report, flagged if persist else None)


def _as_of(as_of: str | None) -> Column:
    """The cutoff for future timestamps: the given instant (UTC), or now."""
    if as_of is None:
        return F.current_timestamp()
    try:
        datetime.fromisoformat(str(as_of))
    except ValueError:
        raise ValueError(
            f"as_of={as_of!r} is not a timestamp (expected e.g. 2026-01-01 or 2026-01-01 12:00:00)"
        ) from None
    # Spark parses the text in the session time zone, which bigseg pins to UTC.
    return F.lit(str(as_of)).cast("timestamp")


def _with_metadata(df: DataFrame, contract: TableContract) -> DataFrame:
    """Contract columns (absent optional ones as nulls) plus any reader metadata."""
    for c in contract.columns:
        if c.name not in df.columns:  # optional and absent: null, like the readers do
            df = df.withColumn(c.name, F.lit(None).cast(c.dtype))
    metadata = [c for c in (UNPARSED_COL, SOURCE_COL) if c in df.columns]
    return df.select(*contract.column_names, *metadata)


def _row_json(df: DataFrame, contract: TableContract) -> Column:
    """The row as it arrived, as JSON: the reader's source row, else the contract row.

    Built only where used (quarantined rows, report examples), never for every row.
    Null fields are kept: a missing value is often why the row was quarantined.
    """
    row = F.col(SOURCE_COL) if SOURCE_COL in df.columns else F.struct(*contract.column_names)
    return F.to_json(row, {"ignoreNullFields": "false"})


def _join_references(
    df: DataFrame, contract: TableContract, references: dict[str, DataFrame]
) -> tuple[DataFrame, list[Rule]]:
    """Left-join each given reference table's keys; a row without a match breaks the rule."""
    rules = []
    for i, ref in enumerate(contract.references):
        target = references.get(ref.target)
        if target is None:
            log.info("%s: %s not checked (no %s given)", contract.name, ref.reason, ref.target)
            continue
        marker = _REF.format(i)
        keys = (
            target.select(
                *[F.col(t).alias(c) for c, t in zip(ref.columns, ref.target_columns, strict=True)]
            )
            .distinct()
            .withColumn(marker, F.lit(True))
        )
        df = df.join(keys, on=list(ref.columns), how="left")
        # Rows with a null in the join columns are already quarantined as null_*.
        has_nulls = _any([F.col(c).isNull() for c in ref.columns])
        rules.append(Rule(ref.reason, F.col(marker).isNull() & ~has_nulls))
    return df, rules


def _flag_duplicates(flagged: DataFrame, contract: TableContract) -> DataFrame:
    """Mark every clean row of a key but the smallest (by contract columns) as duplicate."""
    clean = F.size(F.col(_REASONS)) == 0
    window = Window.partitionBy(*contract.keys, clean).orderBy(
        *[F.col(c).asc_nulls_first() for c in contract.column_names]
    )
    duplicate = clean & (F.row_number().over(window) > 1)
    return flagged.withColumn(
        _REASONS,
        F.when(duplicate, F.array(F.lit("duplicate_key"))).otherwise(F.col(_REASONS)),
    )


def _report(flagged: DataFrame, table: str, row_json: Column) -> TableReport:
    """One aggregation: rows per reason (null = used) and one example row per reason."""
    rows = (
        flagged.groupBy("reason")
        .agg(
            F.count(F.lit(1)).alias("n"),
            # CaseWhen evaluates the JSON only for quarantined rows.
            F.min(F.when(F.col("reason").isNotNull(), row_json)).alias("example"),
        )
        .collect()
    )
    by_reason = {r.reason: int(r.n) for r in rows if r.reason is not None}
    examples = {r.reason: r.example for r in rows if r.reason is not None}
    used = sum(int(r.n) for r in rows if r.reason is None)
    quarantined = sum(by_reason.values())
    return TableReport(table, used + quarantined, used, quarantined, by_reason, examples)
