"""Params of FaissKMeans / FaissKMeansModel, mirroring ``pyspark.ml.clustering.KMeans``.

The names, defaults and meanings of MLlib's KMeans params are kept (k, maxIter, tol,
seed, featuresCol, predictionCol, weightCol, distanceMeasure, initMode, initSteps) so a
pipeline can swap one for the other; bigseg's own params follow. ``PARAM_MAPPING`` says
how each Spark param reaches the core (``bigseg.kmeans.lloyd``), with the ones that are
accepted but ignored named as such.

Nothing here imports FAISS or the core: an estimator can be built, configured, saved and
loaded on a driver without native libraries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasDistanceMeasure,
    HasFeaturesCol,
    HasMaxIter,
    HasPredictionCol,
    HasSeed,
    HasTol,
    HasWeightCol,
)

# Kept in step with bigseg.kmeans.assign (a test pins them equal); repeated here so that
# building an estimator does not import FAISS.
ASSIGNMENTS = ("auto", "exact", "hnsw", "ivf")
BACKENDS = ("auto", "faiss-cpu", "faiss-gpu", "torch")
BACKEND_FALLBACKS = ("cpu", "error")
DISTANCE_MEASURES = ("euclidean", "cosine")
INIT_MODES = ("k-means||", "k-means++", "random")
HANDLE_INVALID = ("error", "skip")
TRAINING_MODES = ("auto", "barrier", "jobs")

# How each Spark param reaches the core. None: accepted for compatibility, ignored.
PARAM_MAPPING: dict[str, str | None] = {
    "k": "n_clusters",
    "maxIter": "max_iter",
    "tol": "tol (relative to the data's mean per-feature variance, as scikit-learn)",
    "seed": "seed (init sample, k-means++ and empty-cluster repair)",
    "weightCol": "sample_weight",
    "distanceMeasure": "spherical (cosine -> True)",
    "initMode": "init: 'k-means++' on a hash-chosen sample; 'k-means||' maps to it",
    "initSteps": None,
    "assignment": "assignment",
    "backend": "backend (chosen on each executor task: bigseg.kmeans.assign.choose_backend)",
    "backendFallback": "choose_backend(fallback=...) on each executor task",
    "initialModel": "init_centroids (warm start; initMode is then ignored)",
}


def _one_of(name: str, options: Sequence[str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        value = TypeConverters.toString(value)
        if value not in options:
            raise ValueError(f"{name} must be one of {list(options)}, got {value!r}.")
        return value

    return convert


def _int_at_least(name: str, low: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got a bool.")
        value = TypeConverters.toInt(value)
        if value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value}.")
        return value

    return convert


def _finite_at_least_zero(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        value = TypeConverters.toFloat(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite float >= 0, got {value}.")
        return value

    return convert


def _centroid_rows(value: Any) -> list[list[float]]:
    """Warm-start centroids: a FaissKMeansModel, a (k, d) array or a list of rows."""
    if hasattr(value, "clusterCenters"):
        value = value.clusterCenters()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"initialModel must be a (k, d) array of centroids, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ValueError("initialModel centroids must be finite.")
    return arr.tolist()


class _FaissKMeansParams(
    HasMaxIter, HasFeaturesCol, HasSeed, HasPredictionCol, HasTol, HasDistanceMeasure, HasWeightCol
):
    """Params shared by :class:`FaissKMeans` and :class:`FaissKMeansModel`."""

    distanceMeasure: Param[str] = Param(
        Params._dummy(),
        "distanceMeasure",
        "The distance measure: 'euclidean' or 'cosine' (spherical k-means on unit vectors).",
        typeConverter=_one_of("distanceMeasure", DISTANCE_MEASURES),
    )
    maxIter: Param[int] = Param(
        Params._dummy(),
        "maxIter",
        "Maximum number of Lloyd iterations (>= 1).",
        typeConverter=_int_at_least("maxIter", 1),
    )
    tol: Param[float] = Param(
        Params._dummy(),
        "tol",
        "Stop when the squared centroid shift is at most tol times the data's mean "
        "per-feature variance (scikit-learn's rule), or when no label changes (>= 0).",
        typeConverter=_finite_at_least_zero("tol"),
    )
    k: Param[int] = Param(
        Params._dummy(),
        "k",
        "The number of clusters to create. Must be >= 1.",
        typeConverter=_int_at_least("k", 1),
    )
    initMode: Param[str] = Param(
        Params._dummy(),
        "initMode",
        "Initialisation: 'k-means++' seeds from a sample of rows chosen by a hash of their "
        "features and the seed (independent of partitioning); 'k-means||' is accepted and "
        "runs the same sampled k-means++; 'random' picks k rows of that sample.",
        typeConverter=_one_of("initMode", INIT_MODES),
    )
    initSteps: Param[int] = Param(
        Params._dummy(),
        "initSteps",
        "Steps of k-means|| (accepted for compatibility with MLlib's KMeans; ignored).",
        typeConverter=_int_at_least("initSteps", 1),
    )
    assignment: Param[str] = Param(
        Params._dummy(),
        "assignment",
        "Nearest-centroid search: 'exact', 'hnsw', 'ivf', or 'auto' (exact below 20000 "
        "centroids, IVF from there).",
        typeConverter=_one_of("assignment", ASSIGNMENTS),
    )
    backend: Param[str] = Param(
        Params._dummy(),
        "backend",
        "Search backend, chosen on each executor task: 'faiss-cpu', 'faiss-gpu', 'torch' "
        "(CUDA where torch sees the task's GPU, else CPU), or 'auto' (faiss-gpu, else torch "
        "on CUDA, else faiss-cpu). A task holding a Spark 'gpu' resource uses that GPU.",
        typeConverter=_one_of("backend", BACKENDS),
    )
    backendFallback: Param[str] = Param(
        Params._dummy(),
        "backendFallback",
        "Where the requested GPU backend cannot run on an executor: 'cpu' runs faiss-cpu "
        "there, logging a WARNING with the host and the reason (summary.backendsUsed "
        "shows it); 'error' fails the fit (or transform) naming the executors.",
        typeConverter=_one_of("backendFallback", BACKEND_FALLBACKS),
    )
    distanceCol: Param[str] = Param(
        Params._dummy(),
        "distanceCol",
        "Output column for the distance to the assigned centroid (euclidean distance, or "
        "1 - cosine similarity); empty string for none.",
        typeConverter=TypeConverters.toString,
    )
    numWorkers: Param[int] = Param(
        Params._dummy(),
        "numWorkers",
        "Number of training tasks; the input is repartitioned to it. Default: the free "
        "task slots, at most the input's number of partitions.",
        typeConverter=_int_at_least("numWorkers", 1),
    )
    handleInvalid: Param[str] = Param(
        Params._dummy(),
        "handleInvalid",
        "Rows with a null vector, NaN/inf values, a wrong length, an invalid weight (or a "
        "zero vector with cosine distance): 'error' fails naming the column, the count "
        "and an example row; 'skip' leaves them out of training (counted in the summary) "
        "and gives them a null prediction in transform.",
        typeConverter=_one_of("handleInvalid", HANDLE_INVALID),
    )
    initialModel: Param[list[list[float]]] = Param(
        Params._dummy(),
        "initialModel",
        "Warm start: initial centroids (k rows of the features' length), e.g. a previous "
        "segment version's. Overrides initMode.",
        typeConverter=_centroid_rows,
    )
    trainingMode: Param[str] = Param(
        Params._dummy(),
        "trainingMode",
        "'barrier': one barrier stage, partial sums over TCP between its tasks (fails fast "
        "when there are fewer free task slots than tasks); 'jobs': one Spark job per "
        "iteration over the cached input (slower, same result); 'auto': barrier where it "
        "can run, else jobs, saying so in the log.",
        typeConverter=_one_of("trainingMode", TRAINING_MODES),
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            k=2,
            maxIter=20,
            tol=1e-4,
            seed=0,
            initMode="k-means||",
            initSteps=2,
            distanceMeasure="euclidean",
            assignment="auto",
            backend="auto",
            backendFallback="cpu",
            distanceCol="distance",
            handleInvalid="error",
            trainingMode="auto",
        )

    def getK(self) -> int:
        """Gets the value of `k`."""
        return self.getOrDefault(self.k)

    def getInitMode(self) -> str:
        """Gets the value of `initMode`."""
        return self.getOrDefault(self.initMode)

    def getInitSteps(self) -> int:
        """Gets the value of `initSteps`."""
        return self.getOrDefault(self.initSteps)

    def getAssignment(self) -> str:
        """Gets the value of `assignment`."""
        return self.getOrDefault(self.assignment)

    def getBackend(self) -> str:
        """Gets the value of `backend`."""
        return self.getOrDefault(self.backend)

    def getBackendFallback(self) -> str:
        """Gets the value of `backendFallback`."""
        return self.getOrDefault(self.backendFallback)

    def getDistanceCol(self) -> str:
        """Gets the value of `distanceCol`."""
        return self.getOrDefault(self.distanceCol)

    def getNumWorkers(self) -> int | None:
        """Gets the value of `numWorkers` (None: chosen from the free task slots)."""
        return self.getOrDefault(self.numWorkers) if self.isDefined(self.numWorkers) else None

    def getHandleInvalid(self) -> str:
        """Gets the value of `handleInvalid`."""
        return self.getOrDefault(self.handleInvalid)

    def getInitialModel(self) -> list[list[float]] | None:
        """Gets the warm-start centroids, or None."""
        return self.getOrDefault(self.initialModel) if self.isDefined(self.initialModel) else None

    def getTrainingMode(self) -> str:
        """Gets the value of `trainingMode`."""
        return self.getOrDefault(self.trainingMode)

    def _check_params(self) -> None:
        """Re-check every value once before fitting (``copy(extra)`` skips converters)."""
        for param in self.params:
            if self.isDefined(param) and param.typeConverter is not None:
                value = self.getOrDefault(param)
                if value is not None:
                    param.typeConverter(value)
