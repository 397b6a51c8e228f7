"""Scoring on Spark: ``FaissKMeansModel.transform`` against MLlib's ``KMeansModel.transform``.

Each (n, k) point runs on local[N] over a cached ``array<float>`` Parquet input (MLlib:
the same rows as a cached vector column), every transform written to the ``noop`` sink,
the best of ``--repeats`` after one untimed run (Python workers started, FAISS imported).
Systems:

- ``bigseg``: transform as built (an ``array<float>`` input column is read as it is);
- ``bigseg-staged``: transform as before, with the input copied into a staged
  ``array<float>`` column first, so every vector crossed to Python twice;
- ``mllib``: ``KMeansModel`` holding the same centroids;
- ``python-roundtrip``: ``mapInArrow`` returning its batches unchanged (the Arrow
  transfer both ways, no search: the floor for any mapInArrow transform).

    python -m benchmarks.bench_transform --ns 200000,1000000 --ks 64,256
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.bench_engine import write_parquet
from benchmarks.common import format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.transform")

SYSTEMS = ("bigseg", "bigseg-staged", "mllib", "python-roundtrip")


def _noop(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def _roundtrip(batches: Iterator) -> Iterator:
    yield from batches


def _always_staged(dataset, spec):
    """The transform input as before: the features cast into a staged column."""
    from bigseg.spark.dataset import features_column
    from bigseg.spark.predict import PREDICT_FEATURES

    return dataset.withColumn(PREDICT_FEATURES, features_column(dataset, spec.features_col)), spec


def _timed(fn, repeats: int) -> list[float]:
    fn()  # untimed: workers started, imports done
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def score(spark, system: str, df, vdf, centroids: np.ndarray, repeats: int) -> list[float]:
    import bigseg.spark.model as model_module
    from benchmarks.suites.assign import mllib_model
    from bigseg.spark import FaissKMeansModel

    if system == "mllib":
        model = mllib_model(spark, centroids)
        return _timed(lambda: _noop(model.transform(vdf)), repeats)
    if system == "python-roundtrip":
        return _timed(lambda: _noop(df.mapInArrow(_roundtrip, df.schema)), repeats)
    model = FaissKMeansModel(centroids)
    if system == "bigseg":
        return _timed(lambda: _noop(model.transform(df)), repeats)
    built = model_module._stage_features
    model_module._stage_features = _always_staged
    try:
        return _timed(lambda: _noop(model.transform(df)), repeats)
    finally:
        model_module._stage_features = built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", default="200000,1000000,4000000")
    parser.add_argument("--ks", default="64,256")
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None,
                        help="spark.sql.execution.arrow.maxRecordsPerBatch (default: bigseg's)")
    parser.add_argument("--label", default="", help="a note stored in every row")
    parser.add_argument("--name", default="transform")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.ml.functions import array_to_vector

    from bigseg.config import SparkConfig
    from bigseg.session import get_spark

    ns = [int(v) for v in args.ns.split(",")]
    ks = [int(v) for v in args.ks.split(",")]
    systems = args.systems.split(",")
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    conf = {"spark.ui.enabled": "false"}
    if args.batch:
        conf["spark.sql.execution.arrow.maxRecordsPerBatch"] = str(args.batch)
    spark = get_spark(SparkConfig(master=args.master, app_name="bigseg-bench-transform",
                                  driver_memory="4g", show_progress=False, log_level="ERROR",
                                  conf=conf))
    parts = spark.sparkContext.defaultParallelism
    header = run_header()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bigseg-bench-transform-") as scratch:
        for n in ns:
            X = np.random.default_rng([7, n]).standard_normal((n, args.d), dtype=np.float32)
            path = write_parquet(X, Path(scratch) / f"points-{n}", parts)
            del X
            df = spark.read.parquet(path).cache()
            df.count()
            vdf = df.select(array_to_vector("features").alias("features")).cache()
            vdf.count()
            for k in ks:
                centroids = np.random.default_rng([8, k]).standard_normal(
                    (k, args.d)).astype(np.float32)
                for system in systems:
                    seconds = score(spark, system, df, vdf, centroids, args.repeats)
                    best = min(seconds)
                    rows.append({
                        "system": system, "n": n, "k": k, "d": args.d, "master": args.master,
                        "partitions": df.rdd.getNumPartitions(), "best_s": round(best, 4),
                        "seconds_all": [round(s, 4) for s in seconds],
                        "points_per_s": round(n / best), "label": args.label,
                        "arrow_batch": int(spark.conf.get(
                            "spark.sql.execution.arrow.maxRecordsPerBatch")),
                        "load_1min": round(os.getloadavg()[0], 2),
                    })
                    log.info("n=%-8d k=%-4d %-17s %.3f s  %9.0f pts/s", n, k, system, best,
                             n / best)
            df.unpersist()
            vdf.unpersist()
    spark.stop()
    summary = {}
    for row in rows:
        if row["system"] != "mllib":
            mllib = next((r for r in rows if r["system"] == "mllib" and r["n"] == row["n"]
                          and r["k"] == row["k"]), None)
            if mllib:
                summary[f"n{row['n']}_k{row['k']}_{row['system']}_speedup_vs_mllib"] = round(
                    mllib["best_s"] / row["best_s"], 2)
    log.info("\n%s", format_rows(rows, ["system", "n", "k", "best_s", "points_per_s",
                                        "load_1min"]))
    write_results(args.name, header, rows, summary)


if __name__ == "__main__":
    main()
