"""Cluster quality computed from Spark aggregates and a bounded sample.

One aggregation over the assigned rows gives, per cluster, the count, the sum of the
feature vectors, the sum of squared norms and the sum of distances (and squared
distances) to the fitted centroid: :class:`ClusterMoments`. Everything else is arithmetic
on k x d numbers on the driver:

- inertia: the sum of squared distances to the fitted centroids (k-means' objective);
- Calinski-Harabasz: between- over within-cluster dispersion around the cluster *means*
  (as scikit-learn), with the within part from the moments:
  ``W_k = sum ||x||^2 - ||sum x||^2 / n_k``;
- Davies-Bouldin: ``s_k`` is the mean distance to the fitted centroid (equal to the
  cluster mean once k-means has converged) and the separation is between cluster means.

The silhouette needs all pairwise distances, so it is computed on a sample of at most
``n`` rows (hash-chosen by Spark, then collected).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)


@dataclass
class ClusterMoments:
    """Sufficient statistics per cluster; rows in ``labels`` order."""

    labels: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    sq_norms: np.ndarray
    dist_sums: np.ndarray
    dist_sq_sums: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def means(self) -> np.ndarray:
        return self.sums / self.counts[:, None]


def _as_array(df: DataFrame, features_col: str):
    dtype = df.schema[features_col].dataType.simpleString()
    if dtype.startswith("array"):
        return F.col(features_col)
    # VectorUDT: Spark's own converter, still no Python UDF.
    from pyspark.ml.functions import vector_to_array

    return vector_to_array(F.col(features_col))


@dataclass
class JointMoments:
    """Moments per cell of several labelings of the same rows (one row per distinct
    combination of labels): marginalise for one labeling's clusters, or count two
    labelings against each other for their contingency table."""

    keys: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    sq_norms: np.ndarray
    dist_sums: np.ndarray
    dist_sq_sums: np.ndarray

    def marginal(self, i: int = 0) -> ClusterMoments:
        labels, inverse = np.unique(self.keys[:, i], return_inverse=True)

        def add(values: np.ndarray) -> np.ndarray:
            out = np.zeros((len(labels),) + values.shape[1:])
            np.add.at(out, inverse, values)
            return out

        return ClusterMoments(labels, add(self.counts), add(self.sums), add(self.sq_norms),
                              add(self.dist_sums), add(self.dist_sq_sums))

    def contingency(self, i: int, j: int) -> np.ndarray:
        rows, ri = np.unique(self.keys[:, i], return_inverse=True)
        cols, ci = np.unique(self.keys[:, j], return_inverse=True)
        table = np.zeros((len(rows), len(cols)))
        np.add.at(table, (ri, ci), self.counts)
        return table


def joint_moments(
    df: DataFrame,
    n_features: int,
    label_cols: Sequence[str],
    *,
    features_col: str = "features",
    distance_col: str = "distance",
) -> JointMoments:
    """Per-cell moments of several label columns in one Spark aggregation.

    The distance column belongs to one of the labelings (its distances to its own
    centroids); :meth:`JointMoments.marginal` of that labeling gives its inertia.
    """
    for col in (features_col, distance_col, *label_cols):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is not in the DataFrame; it has {df.columns}")
    x = _as_array(df, features_col)
    dist = F.col(distance_col).cast("double")
    sq_norm = F.aggregate(x, F.lit(0.0), lambda acc, v: acc + v.cast("double") * v)
    rows = (
        df.groupBy(*label_cols)
        .agg(
            F.count(F.lit(1)).alias("_n"),
            F.array(*[F.sum(x[i].cast("double")) for i in range(n_features)]).alias("_s"),
            F.sum(sq_norm).alias("_q"),
            F.sum(dist).alias("_d"),
            F.sum(dist * dist).alias("_d2"),
        )
        .collect()
    )
    return JointMoments(
        keys=np.array([[r[c] for c in label_cols] for r in rows]).reshape(len(rows), -1),
        counts=np.array([r["_n"] for r in rows], dtype=np.float64),
        sums=np.array([r["_s"] for r in rows], dtype=np.float64).reshape(len(rows), n_features),
        sq_norms=np.array([r["_q"] for r in rows], dtype=np.float64),
        dist_sums=np.array([r["_d"] for r in rows], dtype=np.float64),
        dist_sq_sums=np.array([r["_d2"] for r in rows], dtype=np.float64),
    )


def cluster_moments(
    df: DataFrame,
    n_features: int,
    *,
    features_col: str = "features",
    prediction_col: str = "prediction",
    distance_col: str = "distance",
) -> ClusterMoments:
    """Per-cluster moments of the assigned rows in one Spark aggregation."""
    return joint_moments(df, n_features, [prediction_col], features_col=features_col,
                         distance_col=distance_col).marginal(0)


def quality(m: ClusterMoments) -> dict[str, float]:
    """Inertia, Calinski-Harabasz and Davies-Bouldin from the moments (NaN when k < 2)."""
    k, n = len(m.counts), m.n
    out = {"inertia": float(m.dist_sq_sums.sum()), "k_found": float(k)}
    if k < 2 or n <= k:
        out.update(calinski_harabasz=float("nan"), davies_bouldin=float("nan"))
        return out
    means = m.means
    grand = m.sums.sum(axis=0) / n
    between = float((m.counts * ((means - grand) ** 2).sum(axis=1)).sum())
    # Float64 sums of standardised features: the cancellation in q - |s|^2/n stays far
    # below the dispersions compared here.
    within = float(np.maximum(m.sq_norms - (m.sums**2).sum(axis=1) / m.counts, 0.0).sum())
    out["calinski_harabasz"] = (
        float("inf") if within == 0 else between * (n - k) / (within * (k - 1))
    )
    scatter = m.dist_sums / m.counts
    sep = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    # Coinciding means count as infinitely far apart (ratio 0), as scikit-learn does.
    sep[sep == 0] = np.inf
    ratio = (scatter[:, None] + scatter[None, :]) / sep
    np.fill_diagonal(ratio, -np.inf)
    out["davies_bouldin"] = float(ratio.max(axis=1).mean())
    return out


def silhouette_sample(
    df: DataFrame,
    n: int,
    *,
    features_col: str = "features",
    prediction_col: str = "prediction",
    seed: int = 0,
    n_rows: int | None = None,
) -> float:
    """Mean silhouette on at most ``n`` rows (NaN when the sample holds < 2 clusters).

    Rows are chosen by Spark (``sample`` with a fraction a little above n / n_rows, then
    ``limit``), so only the sample reaches the driver.
    """
    from sklearn.metrics import silhouette_score

    if n < 2:
        raise ValueError(f"silhouette sample size n={n} should be >= 2")
    total = n_rows if n_rows is not None else df.count()
    staged = df.select(_as_array(df, features_col).alias("x"), F.col(prediction_col).alias("y"))
    if total > n:
        staged = staged.sample(fraction=min(1.0, 1.2 * n / total), seed=seed).limit(n)
    rows = staged.collect()
    labels = np.array([r["y"] for r in rows])
    if len(np.unique(labels)) < 2 or len(rows) <= len(np.unique(labels)):
        return float("nan")
    X = np.array([r["x"] for r in rows], dtype=np.float64)
    return float(silhouette_score(X, labels))
