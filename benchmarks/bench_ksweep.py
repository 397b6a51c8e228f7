"""Seconds of a k sweep (``sweep_k``): one ``fit`` per (k, seed) against one ``fitMultiple``.

The "per fit" run is the sweep as it was before ``fitMultiple``: one barrier stage per
(k, seed) (``ksweep._fit_all`` replaced, for that run only, by a loop of ``fit``). The
"one stage" run is ``sweep_k`` as it is. Both then compute the same per-k metrics; the
script checks their tables agree (all but ``fit_seconds``) and records the seconds of
each, with the load average, under benchmarks/results/ksweep-*.json.

    python -m benchmarks.bench_ksweep                       # 5,000 rows x 20, k 2..12 x 3 seeds
    python -m benchmarks.bench_ksweep --rows 2000 --ks 2,3,4 --seeds 0,1
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np
import pyarrow as pa

from benchmarks.common import format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.ksweep")


def fit_per_map(data, ks, seeds, features_col, max_iter, params):
    """The sweep's fits as before fitMultiple: one ``fit`` (one barrier stage) each."""
    from bigseg.spark import FaissKMeans

    fits = {}
    for k in ks:
        fits[k] = [
            FaissKMeans(k=k, seed=s, maxIter=max_iter, featuresCol=features_col, **params).fit(data)
            for s in seeds
        ]
    return fits


def blob_frame(spark, rows: int, d: int, centres: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(centres, d))
    X = (means[rng.integers(0, centres, rows)] + 2.0 * rng.standard_normal((rows, d)))
    X = X.astype(np.float32)
    offsets = pa.array(np.arange(0, X.size + 1, d, dtype=np.int32))
    table = pa.table({"features": pa.ListArray.from_arrays(offsets, pa.array(X.reshape(-1)))})
    return spark.createDataFrame(table).repartition(2).cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--ks", type=ints, default=list(range(2, 13)))
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--max-iter", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("bigseg.spark").setLevel(logging.WARNING)  # one line per fit otherwise

    from bigseg.config import SparkConfig
    from bigseg.evaluation import ksweep
    from bigseg.session import get_spark
    from bigseg.spark import FaissKMeans

    spark = get_spark(SparkConfig(
        master="local[2]", app_name="bench-ksweep", shuffle_partitions=4, show_progress=False,
        log_level="ERROR", conf={"spark.ui.enabled": "false", "spark.driver.memory": "2g"},
    ))
    header = run_header()
    header["config"] = vars(args)
    df = blob_frame(spark, args.rows, args.d, centres=6)
    df.count()
    FaissKMeans(k=2, maxIter=2).fit(df)  # warm-up: JVM, Python workers, FAISS import
    header["load_avg_before"] = os.getloadavg()

    def sweep():
        t0 = time.perf_counter()
        result = ksweep.sweep_k(df, args.ks, args.seeds, max_iter=args.max_iter,
                                silhouette_sample_size=1000)
        return result, time.perf_counter() - t0

    one_stage_fit_all = ksweep._fit_all
    ksweep._fit_all = fit_per_map
    try:
        before, before_s = sweep()
    finally:
        ksweep._fit_all = one_stage_fit_all
    after, after_s = sweep()
    header["load_avg_after"] = os.getloadavg()

    same = before.table.drop(columns="fit_seconds").equals(after.table.drop(columns="fit_seconds"))
    n_fits = len(args.ks) * len(args.seeds)
    rows = [
        {"path": "fit per (k, seed)", "stages": n_fits, "sweep_seconds": round(before_s, 2),
         "fit_seconds_sum": round(float(before.table["fit_seconds"].sum()) * len(args.seeds), 2)},
        {"path": "fitMultiple, one stage", "stages": 1, "sweep_seconds": round(after_s, 2),
         "fit_seconds_sum": round(float(after.table["fit_seconds"].sum()) * len(args.seeds), 2)},
    ]
    summary = {
        "fits": n_fits,
        "tables_equal_but_fit_seconds": bool(same),
        "sweep_speedup": round(before_s / after_s, 2),
        "recommended_k": [before.recommended_k, after.recommended_k],
    }
    log.info("\n%s", format_rows(rows, ["path", "stages", "sweep_seconds", "fit_seconds_sum"]))
    log.info("summary %s; load average before %s, after %s", summary,
             header["load_avg_before"], header["load_avg_after"])
    write_results("ksweep", header, rows, summary)
    spark.stop()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
