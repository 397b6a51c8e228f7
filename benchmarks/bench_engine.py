"""The engine benchmark: bigseg (Spark and core) beside faiss.Kmeans, scikit-learn and
Spark MLlib, in one process, on the same data, from the same initial centroids.

    .venv/bin/python -m benchmarks.bench_engine            # 1M x 32, k=64 and 1024, + k=65,536 exact vs ANN
    .venv/bin/python -m benchmarks.bench_engine --quick    # a few minutes
    .venv/bin/python -m benchmarks.bench_engine --only ann # only k=65,536 exact vs ANN (~10 min)

Every system runs ``--iters`` Lloyd iterations at tol=0 from the same centroids; the final
inertia of every system is recomputed the same way (exact FAISS search of its final
centroids over the data, float64 sum), so the figures compare like with like. Results:
benchmarks/results/engine-<stamp>.json (+ .csv) and engine-latest.json; an ``--only ann``
run writes engine-ann-<stamp>.json and engine-ann-latest.json instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import MemorySampler, format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.engine")


def make_blobs(n: int, d: int, blobs: int, seed: int) -> np.ndarray:
    """``blobs`` gaussian clusters (unit spread, centres ~ N(0, 5^2)) as float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 5.0, size=(blobs, d)).astype(np.float32)
    labels = rng.integers(0, blobs, size=n)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X += centres[labels]
    return X


def write_parquet(X: np.ndarray, folder: Path, parts: int) -> str:
    """Write X as an array<float> column in ``parts`` files (Spark reads it back)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    n, d = X.shape
    for i, rows in enumerate(np.array_split(np.arange(n), parts)):
        block = X[rows[0]: rows[-1] + 1]
        offsets = pa.array(np.arange(0, block.size + 1, d, dtype=np.int32))
        column = pa.ListArray.from_arrays(offsets, pa.array(block.reshape(-1)))
        pq.write_table(pa.table({"features": column}), folder / f"part-{i:04d}.parquet")
    return str(folder)


def exact_inertia(X: np.ndarray, centroids: np.ndarray) -> float:
    """The one inertia every system is judged by: exact L2 search, float64 sum."""
    import faiss

    index = faiss.IndexFlatL2(X.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    total = 0.0
    for start in range(0, X.shape[0], 262_144):
        D, _ = index.search(X[start: start + 262_144], 1)
        total += float(D.astype(np.float64).sum())
    return total


def row(system: str, X, k: int, iters_run: int, per_iter_s: float, total_s: float,
        centroids, **extra) -> dict:
    n, d = X.shape
    result = {
        "system": system, "n": n, "d": d, "k": k, "iterations": iters_run,
        "per_iter_s": per_iter_s, "total_s": total_s,
        "points_per_s": n / per_iter_s if per_iter_s else None,
        "gflops": 2.0 * n * d * k / per_iter_s / 1e9 if per_iter_s else None,
        "inertia": exact_inertia(X, centroids),
    }
    result.update(extra)
    log.info("%-14s k=%-6d %6.3f s/iter  %8.0f pts/s  inertia %.6g", system, k, per_iter_s,
             result["points_per_s"] or 0, result["inertia"])
    return result


def run_faiss(X, C0, iters):
    import faiss

    km = faiss.Kmeans(X.shape[1], C0.shape[0], niter=iters, max_points_per_centroid=X.shape[0],
                      seed=1, verbose=False)
    start = time.perf_counter()
    km.train(X, init_centroids=C0)
    total = time.perf_counter() - start
    return row("faiss.Kmeans", X, C0.shape[0], iters, total / iters, total, km.centroids)


def run_sklearn(X, C0, iters):
    from sklearn.cluster import KMeans as SkKMeans

    km = SkKMeans(C0.shape[0], init=C0, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
    start = time.perf_counter()
    km.fit(X)
    total = time.perf_counter() - start
    return row("scikit-learn", X, C0.shape[0], km.n_iter_, total / km.n_iter_, total,
               km.cluster_centers_)


def run_core(X, C0, iters, assignment="exact", system="bigseg core"):
    from bigseg.kmeans import KMeans

    km = KMeans(C0.shape[0], init=C0, max_iter=iters, tol=0.0, assignment=assignment, seed=1)
    start = time.perf_counter()
    km.fit(X)
    total = time.perf_counter() - start
    history = km.history_
    per_iter = float(np.mean([h["seconds"] for h in history]))
    extra = {
        "assignment": km.assignment_,  # what "auto" resolved to
        "build_s": float(np.mean([h["build_seconds"] for h in history])),
        "search_s": float(np.mean([h["search_seconds"] for h in history])),
        "iter_s": [round(h["seconds"], 5) for h in history],
    }
    recalls = [h.get("recall") for h in history if h.get("recall") is not None]
    if recalls:
        extra["recall"] = float(np.mean(recalls))
        extra["recall_min"] = float(np.min(recalls))
        extra["recall_per_iter"] = [round(r, 4) for r in recalls]
    return row(system, X, C0.shape[0], km.n_iter_, per_iter, total, km.cluster_centers_, **extra)


def run_spark(spark, path, X, C0, iters, system="bigseg spark", num_workers=None):
    from bigseg.spark import FaissKMeans

    df = spark.read.parquet(path)
    est = FaissKMeans(k=C0.shape[0], maxIter=iters, tol=0.0, seed=1, assignment="exact",
                      initialModel=C0.tolist(), featuresCol="features",
                      numWorkers=num_workers)
    import psutil

    driver_before_mb = psutil.Process().memory_info().rss / 2**20
    with MemorySampler() as mem:
        start = time.perf_counter()
        model = est.fit(df)
        total = time.perf_counter() - start
    summary = model.summary
    per_iter = float(np.mean([h["seconds"] for h in summary.history]))
    extra = mem.as_dict()
    # Reported by the tasks themselves: peak RSS, RSS before reading data, shard bytes.
    peak, base, shard = (np.asarray(v, dtype=float) for v in (
        summary.workerPeakMemoryMB, summary.workerBaselineMemoryMB, summary.shardMemoryMB))
    extra["shard_mb"] = round(float(shard.max()), 1)
    extra["task_peak_rss_mb"] = round(float(peak.max()), 1)
    extra["task_baseline_rss_mb"] = round(float(base.max()), 1)
    extra["worker_mb_per_shard_mb"] = round(float(((peak - base) / shard).max()), 2)
    # Nothing is collected: the driver's growth during the fit should not depend on n.
    extra["driver_growth_mb"] = round(mem.peak_driver_mb - driver_before_mb, 1)
    extra["spark_tasks"] = summary.numWorkers
    extra["iter_s"] = [round(h["seconds"], 5) for h in summary.history]
    centroids = np.asarray(model.clusterCenters(), dtype=np.float32)
    return row(system, X, C0.shape[0], summary.numIter, per_iter, total, centroids, **extra)


def run_mllib(spark, path, X, C0, iters):
    from pyspark.mllib.clustering import KMeans as MLlibKMeans
    from pyspark.mllib.clustering import KMeansModel
    from pyspark.mllib.linalg import DenseVector

    rdd = spark.read.parquet(path).rdd.map(lambda r: DenseVector(r.features)).cache()
    rdd.count()  # materialise the cache outside the timed part
    start = time.perf_counter()
    model = MLlibKMeans.train(rdd, C0.shape[0], maxIterations=iters, epsilon=0.0,
                              initialModel=KMeansModel([c.astype(np.float64) for c in C0]))
    total = time.perf_counter() - start
    rdd.unpersist()
    centroids = np.asarray(model.clusterCenters, dtype=np.float32)
    return row("spark mllib", X, C0.shape[0], iters, total / iters, total, centroids)


def run_quality(spark, path, X, k, seed):
    """Converged quality: bigseg Spark's own seeding vs scikit-learn k-means++, best of 3."""
    from sklearn.cluster import KMeans as SkKMeans

    from bigseg.spark import FaissKMeans

    start = time.perf_counter()
    sk = SkKMeans(k, init="k-means++", n_init=3, random_state=seed, algorithm="lloyd").fit(X)
    sk_s = time.perf_counter() - start
    start = time.perf_counter()
    model = FaissKMeans(k=k, maxIter=100, tol=1e-4, seed=seed).fit(spark.read.parquet(path))
    bigseg_s = time.perf_counter() - start
    centroids = np.asarray(model.clusterCenters(), dtype=np.float32)
    return [
        row("sklearn k-means++ x3 (converged)", X, k, int(sk.n_iter_), sk_s / max(sk.n_iter_, 1),
            sk_s, sk.cluster_centers_, quality_run=True),
        row("bigseg spark (converged)", X, k, model.summary.numIter,
            bigseg_s / max(model.summary.numIter, 1), bigseg_s, centroids, quality_run=True),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--blobs", type=int, default=64)
    parser.add_argument("--ks", default="64,1024")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--ann-k", type=int, default=65_536, help="0 skips exact vs ANN")
    parser.add_argument("--ann-iters", type=int, default=10)
    parser.add_argument("--ann-methods", default="auto",
                        help="approximate assignments to time against exact at --ann-k, "
                             "e.g. auto,hnsw,ivf ('auto' is what KMeans picks at that k)")
    parser.add_argument("--only", choices=("ann",), default=None,
                        help="ann: only the exact-vs-ANN part (no Spark, no k list)")
    parser.add_argument("--systems", default="bigseg-spark,bigseg-core,faiss,sklearn,mllib")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality-k", type=int, default=64,
                        help="converged inertia vs scikit-learn k-means++ (0 skips)")
    parser.add_argument("--quick", action="store_true", help="n=200k, k=64,256, ANN k=4096")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.ks, args.ann_k, args.ann_iters = 200_000, "64,256", 4096, 3
    if args.only == "ann":
        args.systems, args.ks, args.quality_k = "", "", 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    systems = set(filter(None, args.systems.split(",")))
    ks = [int(k) for k in args.ks.split(",") if k]

    header = run_header()
    header["params"] = vars(args)
    X = make_blobs(args.n, args.d, args.blobs, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    rows: list[dict] = []

    spark = None
    tmp = tempfile.TemporaryDirectory(prefix="bigseg-bench-")
    path = None
    if systems & {"bigseg-spark", "mllib"}:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from bigseg.config import SparkConfig
        from bigseg.session import get_spark

        spark = get_spark(SparkConfig(master=f"local[{args.partitions}]", driver_memory="8g",
                                      show_progress=False, log_level="ERROR",
                                      conf={"spark.ui.enabled": "false"}))
        path = write_parquet(X, Path(tmp.name) / "blobs", args.partitions)

    for k in ks:
        C0 = X[rng.choice(args.n, size=k, replace=False)].copy()
        if "bigseg-spark" in systems:
            rows.append(run_spark(spark, path, X, C0, args.iters))
        if "bigseg-core" in systems:
            rows.append(run_core(X, C0, args.iters))
        if "faiss" in systems:
            rows.append(run_faiss(X, C0, args.iters))
        if "sklearn" in systems:
            rows.append(run_sklearn(X, C0, args.iters))
        if "mllib" in systems:
            rows.append(run_mllib(spark, path, X, C0, args.iters))

    if "bigseg-spark" in systems:
        # The same fit on a quarter of the rows: the driver's growth should not change.
        quarter = X[: args.n // 4]
        quarter_path = write_parquet(quarter, Path(tmp.name) / "quarter", args.partitions)
        C0 = quarter[rng.choice(quarter.shape[0], size=ks[0], replace=False)].copy()
        rows.append(run_spark(spark, quarter_path, quarter, C0, args.iters,
                              system="bigseg spark n/4"))

    if args.quality_k and spark is not None and "bigseg-spark" in systems:
        rows.extend(run_quality(spark, path, X, args.quality_k, args.seed))

    if args.ann_k:
        C0 = X[rng.choice(args.n, size=args.ann_k, replace=False)].copy()
        for method in ["exact", *filter(None, args.ann_methods.split(","))]:
            rows.append(run_core(X, C0, args.ann_iters, method, f"bigseg {method}"))
            rows[-1]["ann_run"] = True

    summary = targets(rows, ks, args.ann_k)
    print(format_rows(rows, ["system", "assignment", "k", "iterations", "per_iter_s",
                             "points_per_s", "gflops", "inertia", "recall",
                             "worker_mb_per_shard_mb"]))
    for name, value in summary.items():
        print(f"{name}: {value}")
    write_results("engine-ann" if args.only == "ann" else "engine", header, rows, summary)
    if spark is not None:
        spark.stop()
    tmp.cleanup()
    return 0


def targets(rows: list[dict], ks: list[int], ann_k: int) -> dict:
    """The issue's targets as measured ratios (None where a system did not run)."""
    def find(system, k):
        return next((r for r in rows if r["system"] == system and r["k"] == k), None)

    out: dict[str, object] = {}
    for k in ks:
        spark_row, faiss_row, mllib_row = find("bigseg spark", k), find("faiss.Kmeans", k), \
            find("spark mllib", k)
        if spark_row and faiss_row:
            out[f"k{k}_spark_over_faiss_per_iter"] = round(
                spark_row["per_iter_s"] / faiss_row["per_iter_s"], 3)
        if spark_row and mllib_row:
            out[f"k{k}_speedup_vs_mllib"] = round(
                mllib_row["per_iter_s"] / spark_row["per_iter_s"], 2)
        core_row, sk_row = find("bigseg core", k), find("scikit-learn", k)
        if core_row and faiss_row:
            out[f"k{k}_core_over_faiss_per_iter"] = round(
                core_row["per_iter_s"] / faiss_row["per_iter_s"], 3)
        if spark_row and sk_row:
            # Same start, same iterations: the two should agree closely.
            out[f"k{k}_same_init_inertia_rel_diff_vs_sklearn"] = round(
                spark_row["inertia"] / sk_row["inertia"] - 1, 6)
        if spark_row:
            out[f"k{k}_worker_peak_over_shard"] = spark_row.get("worker_mb_per_shard_mb")
    full = find("bigseg spark", ks[0]) if ks else None
    quarter = find("bigseg spark n/4", ks[0]) if ks else None
    if full and quarter:
        out["driver_growth_mb_n_vs_quarter_n"] = [full["driver_growth_mb"],
                                                  quarter["driver_growth_mb"]]
    quality = [r for r in rows if r.get("quality_run")]
    if len(quality) == 2:
        out["converged_inertia_rel_diff_vs_sklearn_kmeanspp"] = round(
            quality[1]["inertia"] / quality[0]["inertia"] - 1, 6)
    ann_rows = [r for r in rows if r.get("ann_run")]
    exact = next((r for r in ann_rows if r["system"] == "bigseg exact"), None)
    for ann in (r for r in ann_rows if r is not exact):
        # "bigseg auto" (the default choice) reports as k.._ann_*, the others by name
        tag = "ann" if ann["system"] == "bigseg auto" else ann["system"].split()[-1]
        if exact:
            out[f"k{ann_k}_{tag}_speedup"] = round(exact["per_iter_s"] / ann["per_iter_s"], 2)
            out[f"k{ann_k}_{tag}_inertia_rel_diff"] = round(
                ann["inertia"] / exact["inertia"] - 1, 5)
        out[f"k{ann_k}_{tag}_assignment"] = ann.get("assignment")
        out[f"k{ann_k}_{tag}_recall"] = ann.get("recall")
        out[f"k{ann_k}_{tag}_recall_min"] = ann.get("recall_min")
    return out


if __name__ == "__main__":
    sys.exit(main())
