"""The kmeans suite: bigseg (Spark and core) beside faiss.Kmeans, scikit-learn and Spark
MLlib on an (n, d, k) grid, every system on the same points from the same initial
centroids for the same number of Lloyd iterations (tol=0).

Spark systems also run on every extra worker spec, in-process systems at every extra
thread count (at the base point in ``axes`` grids, everywhere in ``product`` grids).
The run functions are bench_engine's; this module adds the suite's row fields.
"""

from __future__ import annotations

import logging

import numpy as np

from benchmarks import bench_engine
from benchmarks.common import limit_threads
from benchmarks.config import SPARK_SYSTEMS, GridShape
from benchmarks.context import RunContext, thread_count
from benchmarks.grid import PlannedRun, Workers, grid_points, plan_runs

log = logging.getLogger("bigseg.benchmarks.kmeans")


def flops_per_iteration(n: int, d: int, k: int) -> float:
    """The assignment's work: the n x k dot products of d terms, a multiply and an add
    each (norms and the update step, O(n d), are left out)."""
    return 2.0 * n * d * k


def suite_row(result: dict, *, suite: str, system: str, workers: Workers | None,
              threads: int | None) -> dict:
    """A bench_engine row with the suite's fields: system key, suite, where it ran."""
    result["label"] = result["system"]
    # The median iteration, where a system reports each one (bigseg): steadier than the
    # mean on a shared machine, where a neighbour's burst lands on one iteration.
    per_iter = result.get("iter_s")
    result["per_iter_median_s"] = (float(np.median(per_iter)) if per_iter
                                   else result["per_iter_s"])
    result["system"] = system
    result["suite"] = suite
    if workers is not None:
        result.update(workers=workers.count, workers_spec=workers.spec,
                      workers_kind=workers.kind)
    else:
        count = thread_count(threads)
        result.update(workers=count, workers_spec=f"threads:{count}", workers_kind="threads")
    return result


def _run_in_process(system: str, X, C0, iterations: int) -> dict:
    if system == "bigseg-core":
        return bench_engine.run_core(X, C0, iterations)
    if system == "faiss":
        return bench_engine.run_faiss(X, C0, iterations)
    if system == "sklearn":
        return bench_engine.run_sklearn(X, C0, iterations)
    raise ValueError(f"unknown in-process system {system!r}")


def _run_on_spark(system: str, spark, path, X, C0, iterations: int, workers: Workers) -> dict:
    if system == "bigseg-spark":
        return bench_engine.run_spark(spark, path, X, C0, iterations, num_workers=workers.count)
    if system == "mllib":
        return bench_engine.run_mllib(spark, path, X, C0, iterations)
    raise ValueError(f"unknown Spark system {system!r}")


def warm_up(system: str, spark, ctx: RunContext, point: dict, workers: Workers) -> None:
    """One untimed iteration at k=8 on the point's data: the JVM's JIT and the Python
    workers' start-up would otherwise be charged to the first grid point of a session
    (seen: MLlib's first fit of a quick run, 100k x 32 at k=64 on local[2], took 1.42 s
    per iteration; the same fit on local[1] right after, 0.38 s)."""
    n, d = point["n"], point["d"]
    log.info("warming up %s on %s (untimed)", system, workers.spec)
    _run_on_spark(system, spark, ctx.datasets.parquet(n, d), ctx.datasets.points(n, d),
                  ctx.datasets.initial_centroids(n, d, min(8, point["k"])), 1, workers)


def fit_once(ctx: RunContext, planned: PlannedRun, iterations: int) -> dict:
    """One fit of the planned system at its point, where it was planned to run."""
    n, d, k = planned.point["n"], planned.point["d"], planned.point["k"]
    X = ctx.datasets.points(n, d)
    C0 = ctx.datasets.initial_centroids(n, d, k)
    if planned.workers is None:
        with limit_threads(planned.threads):
            return _run_in_process(planned.system, X, C0, iterations)
    return _run_on_spark(planned.system, ctx.spark(planned.workers),
                         ctx.datasets.parquet(n, d), X, C0, iterations, planned.workers)


def run(ctx: RunContext) -> list[dict]:
    kc = ctx.cfg.kmeans
    axes = {"n": list(kc.ns), "d": list(kc.ds), "k": list(kc.ks)}
    points = grid_points(axes, kc.grid)
    plan = plan_runs(points, every=kc.grid == GridShape.product, systems=list(kc.systems),
                     spark_systems=SPARK_SYSTEMS, workers=ctx.workers, threads=ctx.threads)
    rows = []
    warmed: set[tuple[str, str]] = set()
    for step, planned in enumerate(plan, start=1):
        system, point, workers, threads = (planned.system, planned.point, planned.workers,
                                           planned.threads)
        n, d, k = point["n"], point["d"], point["k"]
        where = workers.spec if workers else f"threads:{thread_count(threads)}"
        log.info("kmeans [%d/%d] %s n=%d d=%d k=%d on %s, %d iterations", step, len(plan),
                 system, n, d, k, where, kc.iterations)
        if workers is not None and (system, workers.spec) not in warmed:
            warm_up(system, ctx.spark(workers), ctx, point, workers)
            warmed.add((system, workers.spec))
        fits = [suite_row(fit_once(ctx, planned, kc.iterations), suite="kmeans", system=system,
                          workers=workers, threads=threads) for _ in range(kc.repeats)]
        best = min(fits, key=lambda r: r["per_iter_median_s"])
        best["repeats"] = kc.repeats
        best["per_iter_median_all_s"] = [round(r["per_iter_median_s"], 5) for r in fits]
        rows.append(best)
    return rows


def summarise(rows: list[dict]) -> dict:
    """Per grid point, the largest relative difference of a system's inertia from the
    median system's: same init and iterations, so they should agree closely."""
    out: dict[str, object] = {}
    by_point: dict[tuple, list[float]] = {}
    for row in rows:
        by_point.setdefault((row["n"], row["d"], row["k"]), []).append(row["inertia"])
    worst = 0.0
    for (n, d, k), values in by_point.items():
        ref = sorted(values)[len(values) // 2]
        spread = max(abs(v / ref - 1) for v in values)
        out[f"n{n}_d{d}_k{k}_inertia_max_rel_diff"] = round(spread, 6)
        if spread > 0.01:
            log.warning("n=%d d=%d k=%d: inertias differ by %.1f%% between systems (same "
                        "init and iterations): compare their speeds with care", n, d, k,
                        100 * spread)
        worst = max(worst, spread)
    out["inertia_max_rel_diff"] = round(worst, 6)
    return out
