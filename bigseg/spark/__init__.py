"""bigseg on Spark: FaissKMeans / FaissKMeansModel, pyspark.ml stages over the k-means core.

Modules: ``params`` (the Params mixin and the Spark -> core mapping), ``dataset`` (feature
column, bad-row checks), ``arrow`` (Arrow batches -> numpy shards, result payloads),
``checks`` (the rules that stop a fit), ``sampling`` (partitioning-independent
initialisation sample), ``collective`` (TCP allreduce between barrier tasks),
``training`` (spec, result, mode choice), ``barrier`` (the one-stage training), ``jobs``
(the per-iteration fallback), ``predict`` (transform with mapInArrow), ``model`` /
``estimator`` / ``persistence``.

Importing this package imports neither FAISS nor ``bigseg.kmeans`` (the executors do), and
the public classes load lazily: an executor that unpickles a training or predict function
imports only the small modules it needs, not pyspark.ml (about 1 s per Python worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bigseg.spark.estimator import FaissKMeans
    from bigseg.spark.model import FaissKMeansModel, FaissKMeansSummary

__all__ = ["FaissKMeans", "FaissKMeansModel", "FaissKMeansSummary"]

_EXPORTS = {
    "FaissKMeans": "bigseg.spark.estimator",
    "FaissKMeansModel": "bigseg.spark.model",
    "FaissKMeansSummary": "bigseg.spark.model",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bigseg.spark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
