"""The k-means core: numpy + FAISS (+ optional torch), never Spark.

Public API::

    KMeans                      scikit-learn-style estimator
    lloyd, LloydResult          Lloyd iterations on one shard, global values via allreduce
    lloyd_stats, LloydStats     one Lloyd step as additive sufficient statistics
    make_assigner               exact / HNSW / IVF nearest-centroid search, CPU or GPU
    resolve_assignment, resolve_backend
    kmeans_plusplus, random_init
    check_array, check_sample_weight

Modules: ``validation`` (input checks), ``params`` (the parameter table), ``assign`` (+
``gpu``, ``torch_assign``: search backends), ``stats`` (one step as statistics),
``repair`` (empty clusters), ``diagnostics`` (imbalance, ANN recall), ``lloyd`` (the
loop), ``init`` (seeding), ``estimator`` (``KMeans``).
"""

from bigseg.kmeans.assign import make_assigner, resolve_assignment, resolve_backend
from bigseg.kmeans.init import kmeans_plusplus, random_init
from bigseg.kmeans.lloyd import LloydResult, lloyd
from bigseg.kmeans.stats import LloydStats, lloyd_stats
from bigseg.kmeans.validation import check_array, check_sample_weight


def __getattr__(name: str):
    # KMeans pulls in scikit-learn (~2 s of imports); Spark's Python workers only need
    # lloyd and the assigners, so the estimator is imported on first use.
    if name == "KMeans":
        from bigseg.kmeans.estimator import KMeans

        return KMeans
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "KMeans",
    "LloydResult",
    "LloydStats",
    "check_array",
    "check_sample_weight",
    "kmeans_plusplus",
    "lloyd",
    "lloyd_stats",
    "make_assigner",
    "random_init",
    "resolve_assignment",
    "resolve_backend",
]
