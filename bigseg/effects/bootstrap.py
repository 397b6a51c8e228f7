"""A Poisson bootstrap computed as Spark aggregates.

Resampling n rows with replacement gives each row a Binomial(n, 1/n) count, which is
Poisson(1) for large n; drawing those counts independently per row and replicate needs no
shuffle and no per-row state on the driver. Each row is expanded into its ``replicates``
weights in the executors and summed per group and replicate, so only
``groups x replicates`` rows come back whatever the number of customers. A weight is a
hash of (seed, the row's key, the replicate): the same seed gives the same replicates on
any number of partitions.

Cost: ``rows x replicates`` weighted rows summed in the executors (200 replicates of 10M
outcomes is 2 billion cheap rows); fewer replicates trade interval precision for time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.data.hashing import choice, cumulative, uniform

# Poisson(1) counts are drawn up to this value: P(X > 8) is 1e-6, so the truncation
# is far below the bootstrap's own noise.
POISSON_MAX = 8
REPLICATE = "replicate"
WEIGHT_SUM = "n"


def poisson_cumulative(max_k: int = POISSON_MAX) -> list[float]:
    """Cumulative probabilities of Poisson(1) at 0..max_k (the last set to 1)."""
    return cumulative([math.exp(-1.0) / math.factorial(k) for k in range(max_k + 1)])


def poisson_weight(seed: int, keys: Sequence[str | Column], replicate: Column) -> Column:
    """A Poisson(1) count for the row identified by ``keys`` in ``replicate``."""
    u = uniform(seed, "poisson-bootstrap", *keys, replicate)
    return choice(u, F.array(*map(F.lit, poisson_cumulative())), POISSON_MAX + 1)


def bootstrap_sums(
    df: DataFrame,
    groups: Sequence[str],
    values: Mapping[str, Column],
    keys: Sequence[str],
    replicates: int,
    seed: int,
) -> pd.DataFrame:
    """Per group and replicate: the sum of weights (``n``) and weighted sums of ``values``.

    ``keys``: the columns that identify a row (its weights depend on them only).
    Returns a pandas frame with ``groups``, ``replicate``, ``n`` and one column per value.
    """
    if replicates < 1:
        raise ValueError(f"replicates={replicates} should be >= 1")
    staged = df.select(
        *groups, *[c.cast("double").alias(name) for name, c in values.items()], *keys,
        F.explode(F.sequence(F.lit(0), F.lit(replicates - 1))).alias(REPLICATE),
    )
    staged = staged.withColumn("_w", poisson_weight(seed, keys, F.col(REPLICATE)))
    aggs = [F.sum("_w").cast("double").alias(WEIGHT_SUM)]
    aggs += [F.sum(F.col("_w") * F.col(name)).alias(name) for name in values]
    out = staged.groupBy(*groups, REPLICATE).agg(*aggs).toPandas()
    return out.sort_values([*groups, REPLICATE], kind="stable").reset_index(drop=True)


def percentile_interval(samples, alpha: float) -> tuple[float, float]:
    """The (alpha/2, 1 - alpha/2) percentiles of the finite samples (NaN if none)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(x, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)
