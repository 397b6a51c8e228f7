"""Agreement between two labelings of the same customers (seeds, versions).

Spark counts the contingency table (``groupBy(a, b).count()``); only its cells reach the
driver, whatever the number of customers. The adjusted Rand index depends on the table
alone, so no second pass is needed.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def adjusted_rand_index(counts: np.ndarray) -> float:
    """Adjusted Rand index from a contingency table (rows: labeling a, columns: b).

    The value of ``sklearn.metrics.adjusted_rand_score`` on the labels; 1.0 when both
    labelings are trivial (one cluster, or every point alone), as sklearn does.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"counts should be a 2-D contingency table, got shape {c.shape}")

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2.0).sum())

    n = c.sum()
    total = n * (n - 1) / 2.0
    both, rows, cols = pairs(c), pairs(c.sum(axis=1)), pairs(c.sum(axis=0))
    if total == 0:
        return 1.0
    expected = rows * cols / total
    maximum = (rows + cols) / 2.0
    if maximum == expected:
        return 1.0
    return (both - expected) / (maximum - expected)


def contingency(df: DataFrame, a: str, b: str) -> np.ndarray:
    """Counts of (a, b) label pairs as a dense table (rows with a null label skipped)."""
    for col in (a, b):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is not in the DataFrame; it has {df.columns}")
    cells = (df.where(F.col(a).isNotNull() & F.col(b).isNotNull())
             .groupBy(a, b).count().collect())
    if not cells:
        return np.zeros((0, 0))
    rows = {v: i for i, v in enumerate(sorted({r[a] for r in cells}))}
    cols = {v: i for i, v in enumerate(sorted({r[b] for r in cells}))}
    table = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for r in cells:
        table[rows[r[a]], cols[r[b]]] += int(r["count"])
    return table


def ari_between(df: DataFrame, a: str, b: str) -> float:
    """Adjusted Rand index between two label columns of one DataFrame."""
    return adjusted_rand_index(contingency(df, a, b))
