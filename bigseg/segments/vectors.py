"""The vector behavioural k-means runs on: chosen feature columns, grouped, weighted.

``assemble`` standardises each named column with its mean and standard deviation (one
aggregation) and multiplies it by its group's weight, as one Spark SQL array expression
(no UDF). A group weight w scales that group's share of squared distances by w^2, so a
weight of 0 removes the group and 2 makes it count four times as much.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VectorSpec:
    """How the vector was built: columns in order, their centre, scale and weight."""

    columns: tuple[str, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]

    def expression(self):
        """The array<float> Column for any table with these columns."""
        return F.array(*[
            ((F.col(c).cast("double") - F.lit(m)) / F.lit(s) * F.lit(w)).cast("float")
            for c, m, s, w in zip(self.columns, self.means, self.stds, self.weights, strict=True)
        ])


def check_groups(df: DataFrame, groups: Mapping[str, Sequence[str]],
                 weights: Mapping[str, float]) -> None:
    """Every group non-empty, every column present and numeric, weights known and >= 0."""
    if not groups:
        raise ValueError("groups should name at least one group of feature columns")
    unknown = sorted(set(weights) - set(groups))
    if unknown:
        raise ValueError(f"group_weights names groups {unknown} that are not in groups "
                         f"{sorted(groups)}")
    numeric = {f.name for f in df.schema.fields
               if f.dataType.typeName() in ("double", "float", "integer", "long", "short",
                                            "decimal", "byte")}
    seen: set[str] = set()
    for group, columns in groups.items():
        w = weights.get(group, 1.0)
        if w < 0:
            raise ValueError(f"group_weights[{group!r}]={w} should be >= 0")
        if not columns:
            raise ValueError(f"feature group {group!r} lists no columns")
        for c in columns:
            if c not in df.columns:
                raise ValueError(f"feature group {group!r}: column {c!r} is not in the table; "
                                 f"it has {df.columns}")
            if c not in numeric:
                raise TypeError(f"feature group {group!r}: column {c!r} has type "
                                f"{df.schema[c].dataType.simpleString()}, not a number")
            if c in seen:
                raise ValueError(f"column {c!r} appears in two feature groups")
            seen.add(c)


def fit_vector(df: DataFrame, groups: Mapping[str, Sequence[str]],
               weights: Mapping[str, float] | None = None) -> VectorSpec:
    """Means and standard deviations of the grouped columns (one aggregation)."""
    weights = dict(weights or {})
    check_groups(df, groups, weights)
    columns = [c for cols in groups.values() for c in cols]
    col_weights = [float(weights.get(g, 1.0)) for g, cols in groups.items() for _ in cols]
    row = df.agg(*[F.avg(F.col(c).cast("double")).alias(f"m{i}") for i, c in enumerate(columns)],
                 *[F.stddev_pop(F.col(c).cast("double")).alias(f"s{i}")
                   for i, c in enumerate(columns)]).first()
    means, stds = [], []
    for i, c in enumerate(columns):
        if row[f"m{i}"] is None:
            raise ValueError(f"feature column {c!r} has no non-null values")
        means.append(float(row[f"m{i}"]))
        s = float(row[f"s{i}"] or 0.0)
        # A constant column carries no information: keep it at 0 instead of dividing by 0.
        stds.append(s if s > 0 else 1.0)
    spec = VectorSpec(tuple(columns), tuple(means), tuple(stds), tuple(col_weights))
    log.info("behavioural vector: %d columns from groups %s", len(columns), sorted(groups))
    return spec


def assemble(df: DataFrame, groups: Mapping[str, Sequence[str]],
             weights: Mapping[str, float] | None = None, output_col: str = "segment_features"
             ) -> tuple[DataFrame, VectorSpec]:
    """``df`` with the standardised, weighted vector added, and how it was built.

    Null feature values would make the vector unusable for k-means: they are refused
    here (FaissKMeans' handleInvalid decides what happens to them).
    """
    spec = fit_vector(df, groups, weights)
    return df.withColumn(output_col, spec.expression()), spec
