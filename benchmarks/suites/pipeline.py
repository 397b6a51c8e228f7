"""The pipeline suite: the ``pipeline`` job (bigseg/conf/pipeline.yaml, synthetic source)
end to end on the base workers, one row per stage as the run logged it in MLflow
(``timing/<stage>_s``), and one for the whole.

Everything the job writes (data, features, segments, its own MLflow store) goes under the
run's scratch folder and is deleted with it; only the timings are kept.
"""

from __future__ import annotations

import logging
import time

from benchmarks.context import RunContext

log = logging.getLogger("bigseg.benchmarks.pipeline")


def stage_timings(metrics: dict[str, float]) -> dict[str, float]:
    """``timing/<stage>_s`` of the job run's metrics, as {stage: seconds}."""
    from bigseg.tracking import names

    prefix = f"{names.TIMING}/"
    return {key[len(prefix):].removesuffix("_s"): value for key, value in metrics.items()
            if key.startswith(prefix)}


def run(ctx: RunContext) -> list[dict]:
    from bigseg.config import compose
    from bigseg.tasks.pipeline import run_pipeline

    pc = ctx.cfg.pipeline
    root = ctx.scratch / "pipeline"
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    root.mkdir(parents=True, exist_ok=True)
    cfg = compose("pipeline", [
        f"paths.root={root}", f"tracking.uri={tracking_uri}",
        f"source.synthetic.n_customers={pc.customers}", f"model.k={pc.k}",
        f"model.max_iter={pc.max_iter}", *pc.overrides,
    ])
    spark = ctx.spark()
    log.info("pipeline [1/1] %d customers, k=%d on %s", pc.customers, pc.k,
             ctx.base_workers.spec)
    start = time.perf_counter()
    result = run_pipeline(cfg, spark)
    total = time.perf_counter() - start
    import mlflow

    metrics = mlflow.MlflowClient(tracking_uri).get_run(result.run_id).data.metrics
    stages = stage_timings(metrics)
    common = {
        "system": "bigseg-pipeline", "suite": "pipeline", "customers": pc.customers,
        "k": pc.k, "iterations": None, "per_iter_s": None, "gflops": None,
        "workers": ctx.base_workers.count, "workers_spec": ctx.base_workers.spec,
        "workers_kind": ctx.base_workers.kind,
    }
    rows = [{**common, "stage": stage, "total_s": seconds,
             "points_per_s": pc.customers / seconds if seconds else None, "inertia": None}
            for stage, seconds in sorted(stages.items())]
    rows.append({**common, "stage": "total", "total_s": total,
                 "points_per_s": pc.customers / total,
                 "iterations": metrics.get("kmeans/iterations"),
                 # on the scaled features: not comparable with the kmeans suite's inertia
                 "training_cost": metrics.get("kmeans/training_cost"), "inertia": None,
                 "n_customers_segmented": result.train.n_customers})
    for row in rows:
        log.info("pipeline %-24s %7.2f s", row["stage"], row["total_s"])
    return rows


def summarise(rows: list[dict]) -> dict:
    total = next((r for r in rows if r["stage"] == "total"), None)
    if total is None:
        return {}
    return {"pipeline_total_s": round(total["total_s"], 2),
            "pipeline_customers_per_s": round(total["points_per_s"], 1)}
