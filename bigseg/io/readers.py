"""Read one input table from files or the Spark catalog into its contract's columns.

``read_table`` returns the contract's columns in the contract's types plus up to two
metadata columns that validation consumes and drops:

- ``_source``: the row as the source had it (a struct under the user's column names),
  so a quarantined row can be shown exactly as it arrived; present only when that row
  differs from the contract row (converted types, renamed or extra columns);
- ``_unparsed``: the contract columns whose source value was present but could not be
  converted (a text timestamp not matching the format, ``"abc"`` as an amount, ...);
  present only when some column needed converting.

Nothing is dropped here: a value that does not convert becomes null and is named in
``_unparsed``, and validation quarantines the row with reason ``unparseable_<column>``.
A source that cannot be read at all (missing path, wrong format, missing required
column) raises SourceError naming the table, the path and the column.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, TimestampType

from bigseg.config import TableSourceConfig
from bigseg.io.contracts import TableContract, get_contract

log = logging.getLogger(__name__)

SOURCE_COL = "_source"
UNPARSED_COL = "_unparsed"
METADATA_COLUMNS = (SOURCE_COL, UNPARSED_COL)

FILE_FORMATS = ("parquet", "csv", "json", "orc", "whitespace")

# CSV without a header would silently turn the first data row into column names.
_DEFAULT_OPTIONS = {"csv": {"header": "true"}}


class SourceError(ValueError):
    """A source that cannot be read at all: missing path or table, wrong format, missing column."""


def read_table(spark: SparkSession, cfg: TableSourceConfig, table: str) -> DataFrame:
    """Read ``table`` as configured by ``cfg`` and return it in the contract's columns.

    Order of work: load raw -> rename the user's columns -> add constants and row ids ->
    check required columns -> convert types (timestamps with the configured format and
    time zone) recording what did not convert.
    """
    contract = get_contract(table)
    raw, where = _load_raw(spark, cfg, table)
    source_columns = raw.columns
    # The row as it arrived, under the user's names, before anything is renamed or cast.
    # A struct, not JSON yet: validation serialises it for quarantined rows only.
    raw = raw.withColumn(SOURCE_COL, F.struct(*[F.col(f"`{c}`") for c in source_columns]))
    renamed = _rename(raw, cfg.columns, contract, where)
    renamed = _add_constants(renamed, cfg, contract, where)
    _check_required(renamed, contract, where, source_columns)
    return _conform(renamed, contract, cfg)


def _load_raw(spark: SparkSession, cfg: TableSourceConfig, table: str) -> tuple[DataFrame, str]:
    """The source as Spark reads it, and a phrase naming where it came from."""
    if cfg.table:
        where = f"table {table!r} from catalog table {cfg.table!r}"
        try:
            return spark.table(cfg.table), where
        except Exception as exc:  # noqa: BLE001 - Spark raises several types here
            raise SourceError(f"cannot read {where}: {_first_line(exc)}") from exc
    if not cfg.path:
        raise SourceError(
            f"table {table!r} has no source: set source.{table}.path (a file or folder) "
            f"or source.{table}.table (a catalog table)"
        )
    fmt = cfg.format.lower()
    if fmt not in FILE_FORMATS:
        raise SourceError(
            f"table {table!r}: format={cfg.format!r} is not one of {list(FILE_FORMATS)}"
        )
    where = f"table {table!r} from {cfg.path} (format {fmt})"
    options = {**_DEFAULT_OPTIONS.get(fmt, {}), **cfg.options}
    try:
        if fmt == "whitespace":
            df = _read_whitespace(spark, cfg.path, options)
        else:
            # Text formats are read as strings (no inference): conversion is ours, so a
            # bad value is recorded per row instead of failing or nulling silently.
            reader = spark.read.options(**options)
            df = reader.format(fmt).load(cfg.path)
            # Schema inference of Parquet/ORC reads only footers; touching one row makes a
            # file that is not in the format fail here, with the path, not in a later job.
            df.limit(1).collect()
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - AnalysisException, SparkException, Py4J
        raise SourceError(f"cannot read {where}: {_first_line(exc)}") from exc
    if "_corrupt_record" in df.columns and len(df.columns) == 1:
        raise SourceError(f"cannot read {where}: no row parses as {fmt}")
    return df, where


def _read_whitespace(spark: SparkSession, path: str, options: dict[str, str]) -> DataFrame:
    """Whitespace-separated text whose first line names the columns (e.g. CDNOW).

    Every line of every file is split on runs of whitespace; lines equal to the header
    (one per file) are dropped.
    """
    lines = spark.read.text(path)
    norm = F.trim(F.regexp_replace("value", r"\s+", " "))
    first = lines.select(norm.alias("v")).filter(F.col("v") != "").first()
    if first is None:
        raise SourceError(f"{path} is empty")
    header_line = first.v
    # A "names" option (comma-separated) overrides the header's names.
    names = options["names"].split(",") if "names" in options else header_line.split(" ")
    parts = lines.select(F.split(norm, " ").alias("p"), norm.alias("v")).filter(
        (F.col("v") != "") & (F.col("v") != header_line)
    )
    return parts.select(*[F.col("p")[i].alias(n) for i, n in enumerate(names)])


def _rename(
    df: DataFrame, mapping: dict[str, str], contract: TableContract, where: str
) -> DataFrame:
    """Apply ``{their_name: contract_name}``; a mapped column that is absent is an error."""
    missing = [src for src in mapping if src not in df.columns]
    if missing:
        raise SourceError(
            f"cannot read {where}: mapped column(s) {missing} not found; "
            f"the source has columns {df.columns}"
        )
    unknown = [dst for dst in mapping.values() if dst not in contract.column_names]
    if unknown:
        raise SourceError(
            f"{where}: columns mapping targets {unknown}, which are not contract columns "
            f"of {contract.name!r}: {contract.column_names}"
        )
    # Keep source names that are not mapped (they may already be contract names).
    return df.select(*[F.col(f"`{c}`").alias(mapping.get(c, c)) for c in df.columns])


def _add_constants(
    df: DataFrame, cfg: TableSourceConfig, contract: TableContract, where: str
) -> DataFrame:
    for name, value in cfg.constants.items():
        contract.column(name)  # KeyError with the contract's columns when misspelt
        df = df.withColumn(name, F.lit(value))
    if cfg.row_id:
        if cfg.row_id not in contract.keys:
            raise SourceError(
                f"{where}: row_id={cfg.row_id!r} is not a key column of "
                f"{contract.name!r} (keys: {list(contract.keys)})"
            )
        df = _with_row_position(df, cfg.row_id)
    return df


def _with_row_position(df: DataFrame, name: str) -> DataFrame:
    """Number rows 0, 1, ... in input order (files, then lines), in the JVM.

    monotonically_increasing_id() is (partition << 33) + position in the partition; one
    small job counts the rows of each partition (one number per partition reaches the
    driver, never a row), and the running sums of those counts make the ids
    consecutive. File partitions are fixed for the same input files, so the numbering is.
    """
    mono = F.monotonically_increasing_id()
    df = df.withColumn("_mono", mono)
    part = F.shiftright(F.col("_mono"), 33)
    counts = sorted(
        (int(r.p), int(r.n))
        for r in df.groupBy(part.alias("p")).agg(F.count(F.lit(1)).alias("n")).collect()
    )
    offsets, acc = {}, 0
    for p, n in counts:
        offsets[p] = acc
        acc += n
    top = max(offsets, default=0)
    table = F.array(*[F.lit(offsets.get(p, 0)) for p in range(top + 1)])
    position = F.element_at(table, (part + 1).cast("int")) + (
        F.col("_mono") - F.shiftleft(part, 33)
    )
    return df.withColumn(name, position.cast("string")).drop("_mono")


def _check_required(
    df: DataFrame, contract: TableContract, where: str, source_columns: list[str]
) -> None:
    missing = [c for c in contract.required_columns if c not in df.columns]
    if missing:
        raise SourceError(
            f"cannot read {where}: required column(s) {missing} missing; the source has "
            f"columns {source_columns} (map yours with source.{contract.name}.columns)"
        )


def _conform(df: DataFrame, contract: TableContract, cfg: TableSourceConfig) -> DataFrame:
    """Cast to the contract types; name every non-null value that failed to convert."""
    converted: list[Column] = []
    failures: list[Column] = []
    for col in contract.columns:
        if col.name not in df.columns:
            converted.append(F.lit(None).cast(col.dtype).alias(col.name))
            continue
        source_type = df.schema[col.name].dataType
        value = _convert(F.col(col.name), source_type, col.dtype, cfg)
        converted.append(value.alias(col.name))
        if source_type != col.dtype:
            failures.append(F.when(F.col(col.name).isNotNull() & value.isNull(), F.lit(col.name)))
    extra = [c for c in df.columns if c not in contract.column_names and c != SOURCE_COL]
    metadata = []
    if failures:
        metadata.append(
            F.array_compact(F.array(*failures)).cast("array<string>").alias(UNPARSED_COL)
        )
    # The source row is carried only when it differs from the contract row (converted
    # values, columns outside the contract): typed Parquet input pays nothing for it.
    if failures or extra or cfg.columns:
        metadata.append(F.col(SOURCE_COL))
    return df.select(*converted, *metadata)


def _convert(value: Column, source_type, target_type, cfg: TableSourceConfig) -> Column:
    """One column to its contract type; failures give null (try_* functions, ANSI-safe)."""
    if source_type == target_type:
        return value
    if isinstance(target_type, (TimestampType, DateType)):
        if isinstance(source_type, StringType):
            text = F.trim(value)
            parsed = (
                F.try_to_timestamp(text, F.lit(cfg.timestamp_format))
                if cfg.timestamp_format
                else F.try_to_timestamp(text)
            )
        else:
            parsed = value.try_cast(TimestampType())
        if cfg.timezone and cfg.timezone.upper() != "UTC":
            # Wall-clock times in the source's zone -> UTC instants.
            parsed = F.to_utc_timestamp(parsed, cfg.timezone)
        return parsed.cast(DateType()) if isinstance(target_type, DateType) else parsed
    if isinstance(source_type, StringType):
        value = F.trim(value)
    return value.try_cast(target_type)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["METADATA_COLUMNS", "SOURCE_COL", "UNPARSED_COL", "SourceError", "read_table"]
