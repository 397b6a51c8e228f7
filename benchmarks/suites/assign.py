"""The assign suite: scoring throughput, one pass labelling every point with its nearest
centroid, over an (n, k) grid at one d.

- ``bigseg-spark``: ``FaissKMeansModel(C).transform(df)`` written to Spark's ``noop`` sink;
- ``mllib``: ``pyspark.ml.clustering.KMeansModel`` holding the same centroids,
  ``transform`` on the same rows as an ML vector column, ``noop`` sink;
- ``bigseg-core``: ``KMeans.predict`` on the numpy array (the model from one Lloyd
  iteration started at C, so it is fitted; its centroids are used as C for all).

Spark inputs are cached and counted before timing, so reading Parquet is not timed.
``inertia`` is the exact inertia of the centroids (the same for every system of a grid
point); ``labels_inertia`` is the sum of squared distances implied by the system's own
output (bigseg systems: from their labels or distance column), a check that it scored
right.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from benchmarks.bench_engine import exact_inertia
from benchmarks.common import limit_threads
from benchmarks.config import SPARK_SYSTEMS, GridShape
from benchmarks.context import RunContext, thread_count
from benchmarks.grid import grid_points, plan_runs
from benchmarks.suites.kmeans import flops_per_iteration, suite_row

log = logging.getLogger("bigseg.benchmarks.assign")


def _noop(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def _best(fn, repeats: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return min(seconds), seconds


def mllib_model(spark, centroids: np.ndarray):
    """An ML ``KMeansModel`` holding ``centroids`` (MLlib has no public constructor from
    centres: the JVM model is built from an mllib KMeansModel as its save/load does)."""
    from pyspark.ml.clustering import KMeansModel
    from pyspark.mllib.common import _py2java
    from pyspark.mllib.linalg import DenseVector

    sc = spark.sparkContext
    jvm = sc._jvm
    centres = _py2java(sc, [DenseVector(c.astype(np.float64)) for c in centroids])
    parent = jvm.org.apache.spark.mllib.clustering.KMeansModel(centres)
    return KMeansModel(jvm.org.apache.spark.ml.clustering.KMeansModel("bench-mllib", parent))


def score_core(X, C, repeats: int) -> tuple[float, list[float], float, np.ndarray]:
    from bigseg.kmeans import KMeans

    km = KMeans(C.shape[0], init=C, max_iter=1, tol=0.0, assignment="exact", seed=1).fit(X)
    best, seconds = _best(lambda: km.predict(X), repeats)
    labels = km.predict(X)
    C = km.cluster_centers_.astype(np.float64)
    labels_inertia = float(sum(((X[s:s + 65536] - C[labels[s:s + 65536]]) ** 2).sum()
                               for s in range(0, X.shape[0], 65536)))
    return best, seconds, labels_inertia, km.cluster_centers_


def score_spark(spark, path, C, repeats: int) -> tuple[float, list[float], float]:
    from pyspark.sql import functions as F

    from bigseg.spark import FaissKMeansModel

    df = spark.read.parquet(path).cache()
    df.count()
    model = FaissKMeansModel(C)
    best, seconds = _best(lambda: _noop(model.transform(df)), repeats)
    labels_inertia = model.transform(df).agg(F.sum(F.col("distance") ** 2)).first()[0]
    df.unpersist()
    return best, seconds, float(labels_inertia)


def score_mllib(spark, path, C, repeats: int) -> tuple[float, list[float]]:
    from pyspark.ml.functions import array_to_vector

    df = spark.read.parquet(path).select(
        array_to_vector("features").alias("features")).cache()
    df.count()
    model = mllib_model(spark, C)
    best, seconds = _best(lambda: _noop(model.transform(df)), repeats)
    df.unpersist()
    return best, seconds


def run(ctx: RunContext) -> list[dict]:
    ac = ctx.cfg.assign
    points = grid_points({"n": list(ac.ns), "k": list(ac.ks)}, ac.grid)
    plan = plan_runs(points, every=ac.grid == GridShape.product, systems=list(ac.systems),
                     spark_systems=SPARK_SYSTEMS, workers=ctx.workers, threads=ctx.threads)
    # bigseg-core's one Lloyd iteration moves the centroids: every system scores with
    # the moved ones, so fit it first at each point.
    centroids: dict[tuple[int, int], np.ndarray] = {}
    rows = []
    for step, run_ in enumerate(plan, start=1):
        n, k, d = run_.point["n"], run_.point["k"], ac.d
        where = run_.workers.spec if run_.workers else f"threads:{thread_count(run_.threads)}"
        log.info("assign [%d/%d] %s n=%d d=%d k=%d on %s", step, len(plan), run_.system, n,
                 d, k, where)
        X = ctx.datasets.points(n, d)
        C = centroids.get((n, k))
        if C is None:
            C = ctx.datasets.initial_centroids(n, d, k)
        labels_inertia = None
        if run_.system == "bigseg-core":
            with limit_threads(run_.threads):
                best, seconds, labels_inertia, moved = score_core(X, C, ac.repeats)
            centroids.setdefault((n, k), moved)
            C = centroids[(n, k)]
        elif run_.system == "bigseg-spark":
            best, seconds, labels_inertia = score_spark(
                ctx.spark(run_.workers), ctx.datasets.parquet(n, d), C, ac.repeats)
        elif run_.system == "mllib":
            best, seconds = score_mllib(ctx.spark(run_.workers), ctx.datasets.parquet(n, d),
                                        C, ac.repeats)
        else:
            raise ValueError(f"unknown assign system {run_.system!r}")
        result = {
            "system": run_.system, "n": n, "d": d, "k": k, "iterations": 1,
            "per_iter_s": best, "total_s": sum(seconds),
            "seconds_all": [round(s, 4) for s in seconds],
            "points_per_s": n / best, "gflops": flops_per_iteration(n, d, k) / best / 1e9,
            "inertia": exact_inertia(X, C), "labels_inertia": labels_inertia,
        }
        log.info("assign %-13s n=%-8d k=%-5d %7.3f s  %10.0f pts/s  %6.1f GFLOP/s", run_.system,
                 n, k, best, result["points_per_s"], result["gflops"])
        rows.append(suite_row(result, suite="assign", system=run_.system,
                              workers=run_.workers, threads=run_.threads))
    return rows


def summarise(rows: list[dict]) -> dict:
    """Scoring speed of bigseg on Spark over MLlib at each (n, k), same workers."""
    out: dict[str, object] = {}
    for row in rows:
        if row["system"] != "bigseg-spark":
            continue
        mllib = next((r for r in rows if r["system"] == "mllib" and r["n"] == row["n"]
                      and r["k"] == row["k"] and r["workers_spec"] == row["workers_spec"]),
                     None)
        if mllib:
            out[f"n{row['n']}_k{row['k']}_{row['workers_spec']}_speedup_vs_mllib"] = round(
                mllib["per_iter_s"] / row["per_iter_s"], 2)
    worst = max((abs(r["labels_inertia"] / r["inertia"] - 1) for r in rows
                 if r.get("labels_inertia") is not None), default=None)
    out["labels_inertia_max_rel_diff"] = None if worst is None else round(worst, 6)
    return out
