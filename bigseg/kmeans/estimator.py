"""``KMeans``: the k-means core behind scikit-learn's estimator contract.

``__init__`` only stores its keyword arguments; ``fit`` validates them once against
``PARAMETER_RULES``, validates the data, seeds, and hands prepared arrays to ``lloyd``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from bigseg.kmeans.assign import make_assigner
from bigseg.kmeans.init import kmeans_plusplus, random_init
from bigseg.kmeans.lloyd import lloyd, normalize_rows
from bigseg.kmeans.params import validate_params
from bigseg.kmeans.stats import lloyd_stats
from bigseg.kmeans.validation import check_array, check_init_centroids, check_sample_weight

logger = logging.getLogger(__name__)

__all__ = ["KMeans"]

# Transform writes an (n, k) matrix; rows are processed in blocks of at most this many
# distances so the temporary products stay small.
_TRANSFORM_TILE = 1 << 22


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means clustering with FAISS assignment (exact or approximate, CPU or GPU).

    Parameters
    ----------
    n_clusters : int >= 1
    init : "k-means++" (greedy, default), "random", or an array (n_clusters, n_features)
    max_iter : int >= 1
    tol : float >= 0, relative to the mean per-feature (weighted) variance of X
    seed : int >= 0 or None (None: a fresh random seed per fit)
    spherical : bool, cluster by cosine; distances are then euclidean on the unit sphere
    assignment : "auto" | "exact" | "hnsw" | "ivf"; "auto" is exact below
        ``bigseg.kmeans.assign.AUTO_ANN_MIN_CLUSTERS`` centroids, IVF from there
    backend : "auto" | "faiss-cpu" | "faiss-gpu" | "torch"
    max_points_per_centroid : None (default: train on all points) or FAISS-style cap
    verbose : bool, log every iteration at INFO on the "bigseg.kmeans" logger

    Attributes
    ----------
    cluster_centers_ (k, d) float32, labels_ (n,) int64, inertia_ float, n_iter_ int,
    history_ list of per-iteration dicts, n_features_in_ int, converged_ bool, seed_ int
    (the seed used), assignment_ / backend_ (what "auto" resolved to).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=300,
        tol=1e-4,
        seed=None,
        spherical=False,
        assignment="auto",
        backend="auto",
        max_points_per_centroid=None,
        verbose=False,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.spherical = spherical
        self.assignment = assignment
        self.backend = backend
        self.max_points_per_centroid = max_points_per_centroid
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Compute the clustering of ``X`` (n_samples, n_features); returns ``self``."""
        validate_params(self.get_params(), owner=type(self).__name__)
        X = check_array(X)
        n, d = X.shape
        if n < self.n_clusters:
            raise ValueError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        w = check_sample_weight(sample_weight, n)
        if self.spherical:
            # once here, for the seeding and for lloyd (which then finds unit rows)
            X = normalize_rows(X)
        seed = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        init = self._initial_centroids(X, w, seed)

        result = lloyd(
            X,
            init,
            sample_weight=w,
            max_iter=self.max_iter,
            tol=self.tol,
            spherical=self.spherical,
            assignment=self.assignment,
            backend=self.backend,
            seed=seed,
            max_points_per_centroid=self.max_points_per_centroid,
            callback=self._log_iteration,
        )
        distinct = int(np.count_nonzero(np.bincount(result.labels, minlength=self.n_clusters)))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = result.centroids
        self.labels_ = result.labels
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        self.history_ = result.history
        self.converged_ = result.converged
        self.n_features_in_ = d
        self.seed_ = seed
        self.assignment_ = result.assignment
        self.backend_ = result.backend
        return self

    def _initial_centroids(self, X, w, seed):
        if isinstance(self.init, str):
            if self.init == "random":
                return random_init(X, self.n_clusters, sample_weight=w, seed=seed)
            return kmeans_plusplus(X, self.n_clusters, sample_weight=w, seed=seed)
        return check_init_centroids(self.init, self.n_clusters, X.shape[1])

    def _log_iteration(self, record):
        level = logging.INFO if self.verbose else logging.DEBUG
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "iteration %d: objective=%.6g shift=%.3g imbalance=%.3f repaired=%d %.3fs%s",
                record["iteration"],
                record["objective"],
                record["centroid_shift"],
                record["imbalance"],
                record["clusters_repaired"],
                record["seconds"],
                f" recall={record['recall']:.4f}" if "recall" in record else "",
            )

    # -- using the fitted model ------------------------------------------------------------
    def _check_fitted_input(self, X):
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        X = check_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return normalize_rows(X) if self.spherical else X

    def _assign(self, X, sample_weight=None):
        # what fit resolved "auto" to, so predict assigns as the training did
        assigner = make_assigner(
            self.cluster_centers_,
            assignment=self.assignment_,
            backend=self.backend_,
            spherical=self.spherical,
        )
        w = check_sample_weight(sample_weight, X.shape[0])
        return lloyd_stats(X, assigner, w)

    def predict(self, X):
        """Index of the nearest centroid for each row of X (int64)."""
        X = self._check_fitted_input(X)
        labels, _, _ = self._assign(X)
        return labels

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean (not squared) distances (n, k) from each row to every centroid.

        In spherical mode the rows are normalised first and the distances are on the unit
        sphere, sqrt(2 - 2 cos), consistent with ``inertia_``.
        """
        X = self._check_fitted_input(X)
        C = self.cluster_centers_
        c_sq = np.einsum("ij,ij->i", C, C)
        n, k = X.shape[0], C.shape[0]
        out = np.empty((n, k), dtype=np.float32)
        rows = max(1, _TRANSFORM_TILE // max(k, 1))
        for start in range(0, n, rows):
            xb = X[start : start + rows]
            block = out[start : start + rows]
            np.matmul(xb, C.T, out=block)
            block *= -2.0
            block += c_sq
            block += np.einsum("ij,ij->i", xb, xb)[:, None]
            np.maximum(block, 0.0, out=block)
            np.sqrt(block, out=block)
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of X under the fitted centroids."""
        X = self._check_fitted_input(X)
        _, _, stats = self._assign(X, sample_weight)
        return -stats.inertia
