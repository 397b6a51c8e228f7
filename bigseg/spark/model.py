"""FaissKMeansModel (centroids + params) and its training summary."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.ml import Model
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    StructField,
    StructType,
)

from bigseg.spark.dataset import features_column
from bigseg.spark.params import _FaissKMeansParams
from bigseg.spark.persistence import FaissKMeansModelReader, FaissKMeansModelWriter
from bigseg.spark.predict import PREDICT_FEATURES, PredictSpec, build_predict_fn
from bigseg.spark.training import check_backend_params

if TYPE_CHECKING:
    from bigseg.spark.training import TrainResult


def _stage_features(dataset: DataFrame, spec: PredictSpec) -> tuple[DataFrame, PredictSpec]:
    """The DataFrame mapInArrow reads, and the spec naming its feature column.

    An ``array<float>`` column (named once) is read as it is. Any other is converted
    into a staged copy, dropped from the output: staging an ``array<float>`` column too
    would send every vector to the Python workers twice, and the Arrow transfer, not
    the search, is most of transform's time at small k (1M x 32, k=64, local[2]: 2.1 s
    with the copy, 1.5 s without; the search is ~0.13 s per 1M rows).
    """
    col = spec.features_col
    column = features_column(dataset, col)  # validates the column's name and type
    dtype = dataset.schema[col].dataType
    if (
        isinstance(dtype, ArrayType)
        and isinstance(dtype.elementType, FloatType)
        and dataset.columns.count(col) == 1
    ):
        return dataset, replace(spec, input_col=col)
    return dataset.withColumn(PREDICT_FEATURES, column), spec


class FaissKMeansSummary:
    """What a fit did: cost, sizes, iterations with their history, rows left out.

    ``history`` holds one dict per iteration: ``objective`` (weighted inertia before the
    update), ``centroid_shift``, ``imbalance``, ``n_changed`` (None in jobs mode),
    ``clusters_repaired``, ``seconds``, ``search_seconds``, and ``recall`` for ANN.
    """

    def __init__(
        self,
        result: TrainResult,
        *,
        model: FaissKMeansModel,
        dataset: DataFrame,
        num_rows: int,
        invalid_rows: dict[str, int],
        num_features: int,
    ) -> None:
        self._result = result
        self._model = model
        self._dataset = dataset
        self._num_rows = num_rows
        self._invalid = dict(invalid_rows)
        self._num_features = num_features

    @property
    def k(self) -> int:
        return int(self._result.centroids.shape[0])

    @property
    def trainingCost(self) -> float:
        """Weighted sum of squared distances to the nearest centroid (on the unit sphere
        for cosine), for the final centroids."""
        return float(self._result.inertia)

    @property
    def clusterSizes(self) -> list[int]:
        """Training rows per cluster."""
        return [int(n) for n in self._result.cluster_sizes]

    @property
    def clusterWeights(self) -> list[float]:
        """Sum of the training rows' weights per cluster (= clusterSizes unweighted)."""
        return [float(w) for w in self._result.cluster_weights]

    @property
    def numIter(self) -> int:
        return int(self._result.n_iter)

    @property
    def converged(self) -> bool:
        return bool(self._result.converged)

    @property
    def history(self) -> list[dict[str, Any]]:
        return [dict(rec) for rec in self._result.history]

    @property
    def numRows(self) -> int:
        """Rows used for training."""
        return int(self._num_rows)

    @property
    def rowsSkipped(self) -> int:
        """Invalid rows left out with handleInvalid='skip'."""
        return int(sum(self._invalid.values()))

    @property
    def invalidRows(self) -> dict[str, int]:
        """Rows left out, by reason (see bigseg.spark.dataset)."""
        return dict(self._invalid)

    @property
    def numFeatures(self) -> int:
        return int(self._num_features)

    @property
    def trainingMode(self) -> str:
        """'barrier' or 'jobs'."""
        return self._result.mode

    @property
    def numWorkers(self) -> int:
        return int(self._result.num_workers)

    @property
    def trainingSeconds(self) -> float:
        """Wall time of the training stage (barrier) or jobs, seen by the driver."""
        return float(self._result.seconds)

    @property
    def initSeconds(self) -> float:
        return float(self._result.init_seconds)

    @property
    def shardRows(self) -> list[int]:
        """Rows per training task (barrier mode; empty in jobs mode)."""
        return list(self._result.shard_rows)

    @property
    def workerPeakMemoryMB(self) -> list[float]:
        """Peak resident memory of each training task's Python worker (barrier mode)."""
        return list(self._result.worker_peak_mb)

    @property
    def workerBaselineMemoryMB(self) -> list[float]:
        """Each training task's Python worker memory before it read any data."""
        return list(self._result.worker_baseline_mb)

    @property
    def shardMemoryMB(self) -> list[float]:
        """Bytes of each training task's float32 shard, in MiB."""
        return list(self._result.shard_mb)

    @property
    def backendsUsed(self) -> list[dict[str, Any]]:
        """One record per training task (jobs mode: per partition of the final pass):
        ``task``, ``host``, ``pid``, ``gpu_address`` (the task's Spark GPU, or None),
        ``requested``, ``backend``, ``device`` ("cpu" or "cuda:<ordinal>"), ``fallback``
        (the requested backend could not run there) and ``reason``."""
        return [dict(r) for r in self._result.backends]

    @property
    def featuresCol(self) -> str:
        return self._model.getFeaturesCol()

    @property
    def predictionCol(self) -> str:
        return self._model.getPredictionCol()

    @property
    def predictions(self) -> DataFrame:
        """The training DataFrame transformed by the model (computed lazily)."""
        return self._model.transform(self._dataset)

    def asDict(self) -> dict[str, Any]:
        """Plain values for logging (MLflow) or JSON."""
        return {
            "k": self.k,
            "trainingCost": self.trainingCost,
            "clusterSizes": self.clusterSizes,
            "clusterWeights": self.clusterWeights,
            "numIter": self.numIter,
            "converged": self.converged,
            "numRows": self.numRows,
            "rowsSkipped": self.rowsSkipped,
            "invalidRows": self.invalidRows,
            "trainingMode": self.trainingMode,
            "numWorkers": self.numWorkers,
            "trainingSeconds": self.trainingSeconds,
            "initSeconds": self.initSeconds,
            "history": self.history,
            "backendsUsed": self.backendsUsed,
        }


class FaissKMeansModel(Model, _FaissKMeansParams, MLWritable, MLReadable):
    """Fitted centroids; ``transform`` adds the prediction and distance columns.

    ``transform`` runs with ``mapInArrow`` on the executors (FAISS search over the
    centroids, built once per partition); nothing is collected to the driver.
    """

    def __init__(self, centroids: Any = None) -> None:
        super().__init__()
        self._centroids = (
            None if centroids is None else np.ascontiguousarray(centroids, dtype=np.float32)
        )
        if self._centroids is not None:
            self._centroids.setflags(write=False)
        self._summary: FaissKMeansSummary | None = None

    # -- setters (those that change transform's output) ----------------------------------

    def setFeaturesCol(self, value: str) -> FaissKMeansModel:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> FaissKMeansModel:
        return self._set(predictionCol=value)

    def setDistanceCol(self, value: str) -> FaissKMeansModel:
        return self._set(distanceCol=value)

    def setHandleInvalid(self, value: str) -> FaissKMeansModel:
        return self._set(handleInvalid=value)

    def setDistanceMeasure(self, value: str) -> FaissKMeansModel:
        """For a model built from centroids (a published segment model): "cosine" makes
        ``transform`` normalise the rows and search by inner product, as training did."""
        return self._set(distanceMeasure=value)

    def setAssignment(self, value: str) -> FaissKMeansModel:
        return self._set(assignment=value)

    def setBackend(self, value: str) -> FaissKMeansModel:
        return self._set(backend=value)

    def setBackendFallback(self, value: str) -> FaissKMeansModel:
        return self._set(backendFallback=value)

    # -- centroids -----------------------------------------------------------------------

    @property
    def centroids(self) -> np.ndarray:
        """float32 (k, d), read-only (unit rows with cosine distance)."""
        if self._centroids is None:
            raise RuntimeError("this FaissKMeansModel has no centroids (not fitted or loaded).")
        return self._centroids

    def clusterCenters(self) -> list[np.ndarray]:
        """The centroids as a list of float64 arrays, as MLlib's KMeansModel returns them."""
        return [row.astype(np.float64) for row in self.centroids]

    @property
    def numFeatures(self) -> int:
        return int(self.centroids.shape[1])

    def predict(self, value: Any) -> int:
        """Cluster of one vector (numpy on the driver; for DataFrames use transform)."""
        x = np.asarray(value.toArray() if hasattr(value, "toArray") else value, dtype=np.float64)
        if x.shape != (self.numFeatures,) or not np.isfinite(x).all():
            raise ValueError(
                f"predict needs {self.numFeatures} finite values, got shape {x.shape}."
            )
        c = self.centroids.astype(np.float64)
        if self.getDistanceMeasure() == "cosine":
            norm = np.linalg.norm(x)
            if norm == 0:
                raise ValueError("predict with cosine distance needs a non-zero vector.")
            return int(np.argmax(c @ (x / norm)))
        return int(np.argmin(((c - x) ** 2).sum(axis=1)))

    # -- summary -------------------------------------------------------------------------

    @property
    def hasSummary(self) -> bool:
        return self._summary is not None

    @property
    def summary(self) -> FaissKMeansSummary:
        if self._summary is None:
            raise RuntimeError(
                "No training summary available for this FaissKMeansModel: summaries exist "
                "only on a model returned by fit, not on a loaded one."
            )
        return self._summary

    # -- transform -----------------------------------------------------------------------

    def _transform(self, dataset: DataFrame) -> DataFrame:
        self._check_params()
        pred_col, dist_col = self.getPredictionCol(), self.getDistanceCol()
        for col in (pred_col, dist_col):
            if col and col in dataset.columns:
                raise ValueError(f"Output column {col!r} already exists in the DataFrame.")
        if pred_col == dist_col:
            raise ValueError(f"predictionCol and distanceCol are both {pred_col!r}.")
        check_backend_params(self.getBackend(), self.getAssignment())
        spark = dataset.sparkSession
        spec = PredictSpec(
            centroids=np.array(self.centroids),
            features_col=self.getFeaturesCol(),
            spherical=self.getDistanceMeasure() == "cosine",
            assignment=self.getAssignment(),
            backend=self.getBackend(),
            handle_invalid=self.getHandleInvalid(),
            prediction_col=pred_col,
            distance_col=dist_col,
            task_cpus=int(spark.sparkContext.getConf().get("spark.task.cpus", "1")),
            backend_fallback=self.getBackendFallback(),
            k=int(self.centroids.shape[0]),
        )
        fields = list(dataset.schema.fields) + [StructField(pred_col, IntegerType(), True)]
        if dist_col:
            fields.append(StructField(dist_col, DoubleType(), True))
        staged, spec = _stage_features(dataset, spec)
        return staged.mapInArrow(build_predict_fn(spec), StructType(fields))

    # -- persistence ---------------------------------------------------------------------

    def write(self) -> FaissKMeansModelWriter:
        return FaissKMeansModelWriter(self)

    @classmethod
    def read(cls) -> FaissKMeansModelReader:
        return FaissKMeansModelReader(cls)
