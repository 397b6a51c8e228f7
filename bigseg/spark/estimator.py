"""FaissKMeans: the pyspark.ml Estimator over the k-means core."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.base import _FitMultipleIterator
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession

from bigseg.spark.barrier import train_barrier, train_barrier_multiple
from bigseg.spark.dataset import check_input, prepare, training_frame
from bigseg.spark.jobs import train_jobs
from bigseg.spark.model import FaissKMeansModel, FaissKMeansSummary
from bigseg.spark.params import _FaissKMeansParams
from bigseg.spark.training import TrainSpec, check_backend_params, choose_mode, spec_runtime

log = logging.getLogger(__name__)

# Params a fitMultiple param map may set while its fits share one barrier stage: what
# differs only between the fits (init + Lloyd), or only in the models' output columns.
# Any other (input columns, weights, distance, backend, workers, warm start...) changes
# the shards or the stage, so such maps run one fit each.
ONE_STAGE_PARAMS = frozenset(
    {"k", "seed", "maxIter", "tol", "initMode", "initSteps", "predictionCol", "distanceCol"}
)


class FaissKMeans(Estimator, _FaissKMeansParams, DefaultParamsReadable, DefaultParamsWritable):
    """K-means on Spark with FAISS in the executors; a drop-in for MLlib's KMeans.

    ``fit`` validates the input in one pass (see ``handleInvalid``), then trains in one
    barrier stage: each task reads its partition into a numpy shard once and runs the
    core's Lloyd iterations, exchanging float64 partial sums with the other tasks over
    authenticated TCP every iteration. With the same seed the centroids do not depend on
    the input's partitioning or on the cluster (1e-5 relative).

    Each training task picks its search backend where it runs (``backend``: its Spark
    GPU with faiss-gpu or torch, else faiss-cpu; ``backendFallback`` says what an
    executor without the requested GPU backend does); ``summary.backendsUsed`` says
    which ran where.

    Building and configuring the estimator imports neither FAISS nor the core.

    >>> km = FaissKMeans(k=8, seed=1, weightCol="w")            # doctest: +SKIP
    >>> model = km.fit(df); model.summary.trainingCost          # doctest: +SKIP
    """

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol: str = "features",
        predictionCol: str = "prediction",
        k: int = 2,
        initMode: str = "k-means||",
        initSteps: int = 2,
        tol: float = 1e-4,
        maxIter: int = 20,
        seed: int = 0,
        distanceMeasure: str = "euclidean",
        weightCol: str | None = None,
        assignment: str = "auto",
        backend: str = "auto",
        backendFallback: str = "cpu",
        distanceCol: str = "distance",
        numWorkers: int | None = None,
        handleInvalid: str = "error",
        initialModel: Any = None,
        trainingMode: str = "auto",
    ) -> None:
        super().__init__()
        self._fail_once_marker: str | None = None  # tests: see TrainSpec.fail_once_marker
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        featuresCol: str = "features",
        predictionCol: str = "prediction",
        k: int = 2,
        initMode: str = "k-means||",
        initSteps: int = 2,
        tol: float = 1e-4,
        maxIter: int = 20,
        seed: int = 0,
        distanceMeasure: str = "euclidean",
        weightCol: str | None = None,
        assignment: str = "auto",
        backend: str = "auto",
        backendFallback: str = "cpu",
        distanceCol: str = "distance",
        numWorkers: int | None = None,
        handleInvalid: str = "error",
        initialModel: Any = None,
        trainingMode: str = "auto",
    ) -> FaissKMeans:
        """Sets params (keyword arguments only)."""
        return self._set(**self._input_kwargs)

    def setK(self, value: int) -> FaissKMeans:
        return self._set(k=value)

    def setInitMode(self, value: str) -> FaissKMeans:
        return self._set(initMode=value)

    def setInitSteps(self, value: int) -> FaissKMeans:
        return self._set(initSteps=value)

    def setMaxIter(self, value: int) -> FaissKMeans:
        return self._set(maxIter=value)

    def setTol(self, value: float) -> FaissKMeans:
        return self._set(tol=value)

    def setSeed(self, value: int) -> FaissKMeans:
        return self._set(seed=value)

    def setDistanceMeasure(self, value: str) -> FaissKMeans:
        return self._set(distanceMeasure=value)

    def setFeaturesCol(self, value: str) -> FaissKMeans:
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str) -> FaissKMeans:
        return self._set(predictionCol=value)

    def setWeightCol(self, value: str) -> FaissKMeans:
        return self._set(weightCol=value)

    def setAssignment(self, value: str) -> FaissKMeans:
        return self._set(assignment=value)

    def setBackend(self, value: str) -> FaissKMeans:
        return self._set(backend=value)

    def setBackendFallback(self, value: str) -> FaissKMeans:
        return self._set(backendFallback=value)

    def setDistanceCol(self, value: str) -> FaissKMeans:
        return self._set(distanceCol=value)

    def setNumWorkers(self, value: int) -> FaissKMeans:
        return self._set(numWorkers=value)

    def setHandleInvalid(self, value: str) -> FaissKMeans:
        return self._set(handleInvalid=value)

    def setInitialModel(self, value: Any) -> FaissKMeans:
        """Warm start from a FaissKMeansModel or a (k, d) array of centroids."""
        return self._set(initialModel=value)

    def setTrainingMode(self, value: str) -> FaissKMeans:
        return self._set(trainingMode=value)

    def _train_spec(self, spark: SparkSession) -> TrainSpec:
        """The TrainSpec of this estimator's params; raises on contradictory params."""
        self._check_params()
        k = self.getK()
        init = self.getInitialModel()
        init_centroids = None
        if init is not None:
            init_centroids = np.ascontiguousarray(init, dtype=np.float32)
            if init_centroids.shape[0] != k:
                raise ValueError(
                    f"initialModel has {init_centroids.shape[0]} centroids but k={k}; "
                    "set k to match it."
                )
        check_backend_params(self.getBackend(), self.getAssignment())
        return spec_runtime(
            spark,
            TrainSpec(
                k=k,
                max_iter=self.getMaxIter(),
                tol=self.getTol(),
                # The core takes seeds >= 0; Spark seeds are any long.
                seed=int(self.getSeed()) % (1 << 63),
                spherical=self.getDistanceMeasure() == "cosine",
                init_mode=self.getInitMode(),
                assignment=self.getAssignment(),
                backend=self.getBackend(),
                backend_fallback=self.getBackendFallback(),
                weighted=self._weight_col() is not None,
                handle_invalid=self.getHandleInvalid(),
                n_features=None if init_centroids is None else init_centroids.shape[1],
                init_centroids=init_centroids,
                fail_once_marker=self._fail_once_marker,
            ),
        )

    def _plan(self, dataset: DataFrame) -> tuple[TrainSpec, DataFrame, str, int]:
        """(spec, training frame, mode, tasks) of a fit of ``dataset``."""
        spec = self._train_spec(dataset.sparkSession)
        frame = training_frame(
            dataset, features_col=self.getFeaturesCol(), weight_col=self._weight_col()
        )
        mode, workers = choose_mode(
            dataset.sparkSession,
            requested=self.getTrainingMode(),
            num_workers=self.getNumWorkers(),
            n_partitions=frame.rdd.getNumPartitions(),
        )
        return spec, frame, mode, workers

    def _fit(self, dataset: DataFrame) -> FaissKMeansModel:
        spec, frame, mode, workers = self._plan(dataset)
        log.info("FaissKMeans: k=%d, %s mode with %d tasks", spec.k, mode, workers)
        train = self._train_barrier if mode == "barrier" else self._train_jobs
        result, n_rows, invalid, n_features = train(dataset, frame, spec, workers)
        return self._model(dataset, result, n_rows, invalid, n_features)

    def _model(self, dataset: DataFrame, result, n_rows: int, invalid: dict, n_features: int):
        """The fitted model with this estimator's params and its summary."""
        model = self._copyValues(FaissKMeansModel(result.centroids))
        # The warm-start centroids belong to the estimator; the model has its own.
        model.clear(model.initialModel)
        model._summary = FaissKMeansSummary(
            result,
            model=model,
            dataset=dataset,
            num_rows=n_rows,
            invalid_rows=invalid,
            num_features=n_features,
        )
        return model

    def fitMultiple(
        self, dataset: DataFrame, paramMaps: Sequence[dict]
    ) -> Iterator[tuple[int, FaissKMeansModel]]:
        """One model per param map, as pyspark's ``fitMultiple``: a thread-safe iterator
        of ``(index, model)``.

        When the maps set only per-fit params (``ONE_STAGE_PARAMS``: k, seed, maxIter,
        tol, initMode, initSteps, and the output columns) and training runs in barrier
        mode, every fit runs in ONE barrier stage: the input is read and validated once,
        then each map's init + Lloyd runs in order over the same shards, with the code a
        single fit runs, so each model (centroids, summary) equals ``fit(dataset, map)``
        bit for bit; ``summary.trainingSeconds`` is the fit's share of the stage. The
        stage runs at the first ``next``; a failed task reruns it whole. Otherwise
        (another param in a map, or jobs mode) each map is one ``fit``, logged at INFO.
        """
        for i, m in enumerate(paramMaps):
            if not isinstance(m, dict):
                raise TypeError(
                    f"paramMaps[{i}] should be a dict of Param to value, got "
                    f"{type(m).__name__}: {m!r}"
                )
        if not paramMaps:
            return super().fitMultiple(dataset, paramMaps)
        reason = self._one_stage_blocker(paramMaps)
        estimators = [self.copy(m) for m in paramMaps] if reason is None else []
        if estimators:
            spec, frame, mode, workers = estimators[0]._plan(dataset)
            if mode != "barrier":
                reason = f"training runs in {mode} mode"
        if reason is not None:
            log.info("FaissKMeans.fitMultiple: one fit per param map (%s)", reason)
            return super().fitMultiple(dataset, paramMaps)
        specs = [spec] + [e._train_spec(dataset.sparkSession) for e in estimators[1:]]
        lock = threading.Lock()
        outcome: dict[str, Any] = {}

        def fit_one(index: int) -> FaissKMeansModel:
            with lock:  # the stage runs once, whichever thread asks first
                if not outcome:
                    try:
                        outcome["models"] = self._fit_in_one_stage(
                            dataset, estimators, specs, frame, workers
                        )
                    except Exception as exc:  # noqa: BLE001 - re-raised to every caller
                        outcome["error"] = exc
                if "error" in outcome:
                    raise outcome["error"]
            return outcome["models"][index]

        return _FitMultipleIterator(fit_one, len(estimators))

    def _one_stage_blocker(self, paramMaps: Sequence[dict]) -> str | None:
        """Why the maps cannot share one barrier stage (None: they can)."""
        for i, m in enumerate(paramMaps):
            for param in m:
                name = getattr(param, "name", param)
                if name not in ONE_STAGE_PARAMS:
                    return f"paramMaps[{i}] sets {name!r}, not a per-fit param"
                if getattr(param, "parent", None) != self.uid:
                    return f"paramMaps[{i}] holds {name!r} of another object"
        return None

    def _fit_in_one_stage(self, dataset, estimators, specs, frame, workers):
        log.info(
            "FaissKMeans.fitMultiple: %d fits (k=%s) in one barrier stage with %d tasks",
            len(specs), [s.k for s in specs], workers,
        )
        stats, results = train_barrier_multiple(
            dataset.sparkSession, frame, specs[0], specs, workers
        )
        counts = {
            "n_total": stats.n_total,
            "invalid": stats.invalid,
            "n_features": stats.n_features,
            "w_valid": stats.w_valid,
        }
        if results is None:  # some map cannot be fitted: raise the first one's message
            for est in estimators:
                est._check_input(dataset, **counts)
            raise RuntimeError("the barrier tasks stopped on an input the driver accepts")
        estimators[0]._check_input(dataset, **counts)  # the skipped rows, logged once
        return [
            est._model(dataset, result, stats.n_rows, stats.invalid, stats.n_features)
            for est, result in zip(estimators, results, strict=True)
        ]

    def _weight_col(self) -> str | None:
        """The weight column, None when unset or empty (MLlib treats "" as unset)."""
        return (self.getWeightCol() if self.isDefined(self.weightCol) else None) or None

    def _check_input(self, dataset: DataFrame, **counts: Any) -> None:
        weight_col = self._weight_col()
        check_input(
            dataset,
            features_col=self.getFeaturesCol(),
            weight_col=weight_col,
            k=self.getK(),
            cosine=self.getDistanceMeasure() == "cosine",
            handle_invalid=self.getHandleInvalid(),
            **counts,
        )

    def _train_barrier(self, dataset: DataFrame, frame: DataFrame, spec: TrainSpec, workers: int):
        """One barrier stage; it reads the input once and classifies the rows itself."""
        stats, result = train_barrier(dataset.sparkSession, frame, spec, workers)
        self._check_input(
            dataset,
            n_total=stats.n_total,
            invalid=stats.invalid,
            n_features=stats.n_features,
            w_valid=stats.w_valid,
        )
        if result is None:  # the tasks stop only on what _check_input raises
            raise RuntimeError("the barrier tasks stopped on an input the driver accepts")
        return result, stats.n_rows, stats.invalid, stats.n_features

    def _train_jobs(self, dataset: DataFrame, frame: DataFrame, spec: TrainSpec, workers: int):
        """A validation pass, then one Spark job per iteration over the cached valid rows."""
        weight_col = self._weight_col()
        data = prepare(
            dataset,
            features_col=self.getFeaturesCol(),
            weight_col=weight_col,
            k=self.getK(),
            cosine=self.getDistanceMeasure() == "cosine",
            handle_invalid=self.getHandleInvalid(),
            n_features=spec.n_features,
        )
        spec = replace(spec, n_features=data.n_features, n_rows=data.n_rows)
        result = train_jobs(dataset.sparkSession, data, spec, workers)
        return result, data.n_rows, data.invalid, data.n_features
