"""The training input: feature column as array<float>, bad rows found, counted and named.

Barrier mode reads the input once: its tasks classify the rows while building their
shards and, when the input cannot be fitted, return the counts instead of raising (a
raise would make Spark retry the barrier stage); the driver then raises here, with an
example row. Jobs mode classifies with one aggregation pass (``prepare``). Both use the
same rules; each row falls in the first class that applies:

``null``          the feature vector is null
``wrong_length``  its length differs from the features' length (that of ``initialModel``
                  when given, else the most common length; 0 is always wrong)
``non_finite``    a value is NaN, +-inf or null (also a double too large for float32)
``zero_vector``   all values are 0 with cosine distance (no direction)
``bad_weight``    the weight is null, NaN, inf or negative
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, NumericType

from bigseg.spark.arrow import FEATURES, WEIGHT
from bigseg.spark.checks import REASONS, input_problem, most_common_length

log = logging.getLogger(__name__)

_EXAMPLE_CHARS = 400


@dataclass
class PreparedInput:
    """Valid rows only: ``FEATURES`` array<float> and, when weighted, ``WEIGHT`` double."""

    df: DataFrame
    n_rows: int
    n_features: int
    n_total: int
    invalid: dict[str, int] = field(default_factory=dict)
    weighted: bool = False

    @property
    def n_skipped(self) -> int:
        return self.n_total - self.n_rows


def features_column(df: DataFrame, col: str) -> Column:
    """``col`` as array<float>: dense or sparse VectorUDT, or an array of numbers."""
    if col not in df.columns:
        raise ValueError(f"featuresCol {col!r} is not a column of the DataFrame {df.columns}.")
    dtype = df.schema[col].dataType
    if isinstance(dtype, VectorUDT):
        return vector_to_array(F.col(col), "float32")
    if isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType):
        return F.col(col).cast("array<float>")
    raise TypeError(
        f"featuresCol {col!r} must be a vector (VectorUDT) or array<float|double> column, "
        f"got {dtype.simpleString()}."
    )


def weight_column(df: DataFrame, col: str) -> Column:
    if col not in df.columns:
        raise ValueError(f"weightCol {col!r} is not a column of the DataFrame {df.columns}.")
    if not isinstance(df.schema[col].dataType, NumericType):
        raise TypeError(
            f"weightCol {col!r} must be numeric, got {df.schema[col].dataType.simpleString()}."
        )
    return F.col(col).cast("double")


def _non_finite(f: Column) -> Column:
    return F.exists(f, lambda x: x.isNull() | F.isnan(x) | (F.abs(x) == F.lit(float("inf"))))


def _bad_weight(w: Column) -> Column:
    return w.isNull() | F.isnan(w) | (w < 0) | (F.abs(w) == F.lit(float("inf")))


def invalid_rows(f: Column, w: Column | None, n_features: int, cosine: bool) -> Column:
    """True for a row that training leaves out (never null)."""
    rule = F.when(f.isNull(), True).when(F.size(f) != n_features, True).when(_non_finite(f), True)
    if cosine:
        rule = rule.when(F.forall(f, lambda x: x == 0), True)
    if w is not None:
        rule = rule.when(_bad_weight(w), True)
    return rule.otherwise(False)


def training_frame(df: DataFrame, *, features_col: str, weight_col: str | None) -> DataFrame:
    """The training layout without a validation pass: the barrier tasks classify rows."""
    cols = [features_column(df, features_col).alias(FEATURES)]
    if weight_col:
        cols.append(weight_column(df, weight_col).alias(WEIGHT))
    return df.select(*cols)


def check_input(
    df: DataFrame,
    *,
    features_col: str,
    weight_col: str | None,
    n_total: int,
    invalid: dict[str, int],
    n_features: int,
    k: int,
    w_valid: float,
    cosine: bool,
    handle_invalid: str,
) -> None:
    """Raise the ValueError ``checks.input_problem`` finds, with an example row if invalid.

    Logs the skipped rows when the input passes with ``handleInvalid="skip"``.
    """
    problem = input_problem(
        features_col=features_col,
        weight_col=weight_col,
        n_total=n_total,
        invalid=invalid,
        n_features=n_features,
        k=k,
        w_valid=w_valid,
        cosine=cosine,
        handle_invalid=handle_invalid,
    )
    if problem is not None:
        kind, message = problem
        if kind == "invalid":
            f = features_column(df, features_col)
            w = weight_column(df, weight_col) if weight_col else None
            example = df.filter(invalid_rows(f, w, n_features, cosine)).limit(1).collect()
            shown = repr(example[0]) if example else "(none found on a second read)"
            if len(shown) > _EXAMPLE_CHARS:
                shown = shown[:_EXAMPLE_CHARS] + "..."
            message += (
                f" Example: {shown}. Fix the data, or set handleInvalid='skip' to leave such "
                "rows out (they are counted in the model summary)."
            )
        raise ValueError(message)
    skipped = {r: v for r, v in invalid.items() if v}
    if skipped:
        log.warning(
            "FaissKMeans: skipping %d invalid row(s) of %d in %r: %s",
            sum(skipped.values()),
            n_total,
            features_col,
            skipped,
        )


def prepare(
    df: DataFrame,
    *,
    features_col: str,
    weight_col: str | None,
    k: int,
    cosine: bool,
    handle_invalid: str,
    n_features: int | None = None,
) -> PreparedInput:
    """Validate ``df`` in one aggregation pass; return its valid rows in the training layout.

    Used by the jobs mode, which reads its input many times anyway; the barrier mode
    classifies rows inside its one stage instead (same rules, see ``checks``).

    Raises ValueError for an empty DataFrame, for k above the valid rows, for all-zero
    weights, and (``handle_invalid="error"``) for any invalid row, naming the column, the
    counts by reason and an example row.
    """
    f = features_column(df, features_col)
    w = weight_column(df, weight_col) if weight_col else None
    flags = [
        F.when(f.isNull(), F.lit(-1)).otherwise(F.size(f)).alias("len"),
        F.coalesce(_non_finite(f), F.lit(False)).alias("non_finite"),
        (F.coalesce(F.forall(f, lambda x: x == 0), F.lit(False)) if cosine else F.lit(False)).alias(
            "zero"
        ),
        (F.coalesce(_bad_weight(w), F.lit(False)) if w is not None else F.lit(False)).alias(
            "bad_w"
        ),
        (w if w is not None else F.lit(1.0)).alias("w"),
    ]
    groups = (
        df.select(*flags)
        .groupBy("len", "non_finite", "zero", "bad_w")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("w").alias("w_sum"))
        .collect()
    )
    n_total = sum(g.n for g in groups)
    if n_features is None:
        lengths: dict[int, int] = {}
        for g in groups:
            lengths[g.len] = lengths.get(g.len, 0) + g.n
        n_features = most_common_length(lengths)

    invalid = dict.fromkeys(REASONS, 0)
    n_valid, w_valid = 0, 0.0
    for g in groups:
        if g.len < 0:
            invalid["null"] += g.n
        elif g.len != n_features:
            invalid["wrong_length"] += g.n
        elif g.non_finite:
            invalid["non_finite"] += g.n
        elif g.zero:
            invalid["zero_vector"] += g.n
        elif g.bad_w:
            invalid["bad_weight"] += g.n
        else:
            n_valid += g.n
            w_valid += g.w_sum or 0.0
    n_invalid = n_total - n_valid
    check_input(
        df,
        features_col=features_col,
        weight_col=weight_col,
        n_total=n_total,
        invalid=invalid,
        n_features=n_features,
        k=k,
        w_valid=w_valid,
        cosine=cosine,
        handle_invalid=handle_invalid,
    )
    bad = invalid_rows(f, w, n_features, cosine)
    cols = [f.alias(FEATURES)] + ([w.alias(WEIGHT)] if w is not None else [])
    out = df.filter(~bad) if n_invalid else df
    return PreparedInput(
        df=out.select(*cols),
        n_rows=n_valid,
        n_features=n_features,
        n_total=n_total,
        invalid={k: v for k, v in invalid.items() if v},
        weighted=w is not None,
    )
