"""From the typed model config to a FaissKMeans estimator."""

from __future__ import annotations

from bigseg.config import ModelConfig


def estimator_from_config(model: ModelConfig, *, features_col: str = "features",
                          prediction_col: str = "segment_id"):
    """A FaissKMeans whose Params are the config's (names mapped once, here)."""
    from bigseg.spark import FaissKMeans

    estimator = FaissKMeans(
        k=model.k,
        maxIter=model.max_iter,
        tol=model.tol,
        seed=model.seed,
        featuresCol=features_col,
        predictionCol=prediction_col,
        distanceMeasure=model.distance,
        initMode=model.init,
        initSteps=model.init_steps,
        assignment=model.assignment,
        backend=model.backend,
        handleInvalid=model.handle_invalid,
    )
    if model.num_workers is not None:
        estimator.setNumWorkers(model.num_workers)
    return estimator
