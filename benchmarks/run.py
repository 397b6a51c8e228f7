"""The benchmark runner: one Hydra-configured command for every suite.

    .venv/bin/python -m benchmarks.run                          # preset=quick, every suite
    .venv/bin/python -m benchmarks.run suite=kmeans preset=full
    .venv/bin/python -m benchmarks.run preset=scaling kmeans.systems=[bigseg-core]

Writes ``benchmarks/results/<suite>-<preset>-<stamp>/`` (results.json, results.csv, PNG
plots), ``benchmarks/results/<suite>-<preset>-latest.json``, and one run in the MLflow
experiment ``bigseg-benchmarks``. See benchmarks/README.md.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from benchmarks import plots
from benchmarks.common import RESULTS, format_rows, run_header, utc_stamp, write_csv
from benchmarks.config import (
    ASSIGN_SYSTEMS,
    FEATURES_SYSTEMS,
    KMEANS_SYSTEMS,
    BenchConfig,
    Suite,
)
from benchmarks.context import RunContext, thread_count
from benchmarks.grid import Workers
from benchmarks.scaling import scaling_summary

log = logging.getLogger("bigseg.benchmarks")

SUITE_ORDER = (Suite.kmeans, Suite.assign, Suite.features, Suite.pipeline)
TABLE_COLUMNS = ["suite", "system", "stage", "n", "d", "k", "customers", "workers_spec",
                 "per_iter_s", "total_s", "points_per_s", "gflops", "inertia"]


def to_bench_config(cfg: DictConfig | BenchConfig) -> BenchConfig:
    if isinstance(cfg, BenchConfig):
        return cfg
    merged = OmegaConf.merge(OmegaConf.structured(BenchConfig), cfg)
    return OmegaConf.to_object(merged)


def _check_systems(name: str, given: list[str], known: tuple[str, ...]) -> None:
    unknown = [s for s in given if s not in known]
    if unknown:
        raise ValueError(f"{name}.systems has {unknown}; known systems: {list(known)}")


def _check_positive(name: str, values: list[int]) -> None:
    if not values or any(v < 1 for v in values):
        raise ValueError(f"{name}={values} should be a non-empty list of integers >= 1")


def check_config(cfg: BenchConfig) -> None:
    """The rules Hydra's types cannot say, checked before any work starts."""
    _check_systems("kmeans", cfg.kmeans.systems, KMEANS_SYSTEMS)
    _check_systems("assign", cfg.assign.systems, ASSIGN_SYSTEMS)
    _check_systems("features", cfg.features.systems, FEATURES_SYSTEMS)
    for name, values in (("kmeans.ns", cfg.kmeans.ns), ("kmeans.ds", cfg.kmeans.ds),
                         ("kmeans.ks", cfg.kmeans.ks), ("assign.ns", cfg.assign.ns),
                         ("assign.ks", cfg.assign.ks), ("threads", cfg.threads or [1])):
        _check_positive(name, list(values))
    if max(cfg.kmeans.ks) > min(cfg.kmeans.ns):
        raise ValueError(f"kmeans.ks={list(cfg.kmeans.ks)} should be <= the smallest n "
                         f"of kmeans.ns={list(cfg.kmeans.ns)}")
    if max(cfg.assign.ks) > min(cfg.assign.ns):
        raise ValueError(f"assign.ks={list(cfg.assign.ks)} should be <= the smallest n "
                         f"of assign.ns={list(cfg.assign.ns)}")
    for name, value in (("kmeans.iterations", cfg.kmeans.iterations),
                        ("kmeans.repeats", cfg.kmeans.repeats),
                        ("assign.repeats", cfg.assign.repeats),
                        ("features.repeats", cfg.features.repeats),
                        ("features.customers", cfg.features.customers),
                        ("pipeline.customers", cfg.pipeline.customers),
                        ("assign.d", cfg.assign.d)):
        if value < 1:
            raise ValueError(f"{name}={value} should be >= 1")
    for spec in cfg.workers:
        Workers.parse(spec, cfg.cluster.cores_per_worker)


def selected_suites(suite: Suite, skip: list[Suite]) -> list[Suite]:
    chosen = [s for s in SUITE_ORDER if s not in skip] if suite == Suite.all else [suite]
    if not chosen:
        raise ValueError(f"suite={suite.value} with skip={[s.value for s in skip]} leaves "
                         f"no suite to run")
    return chosen


def _suite_module(suite: Suite):
    from benchmarks.suites import assign, features, kmeans, pipeline

    return {Suite.kmeans: kmeans, Suite.assign: assign, Suite.features: features,
            Suite.pipeline: pipeline}[suite]


def write_outputs(folder: Path, latest: Path, payload: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, default=str)
    (folder / "results.json").write_text(text)
    latest.write_text(text)
    if payload["rows"]:
        write_csv(payload["rows"], folder / "results.csv")


def make_plots(ctx: RunContext, rows: list[dict], folder: Path) -> list[Path]:
    cfg = ctx.cfg
    base_specs = {ctx.base_workers.spec, f"threads:{thread_count(ctx.threads[0])}"}
    made = plots.kmeans_plots(
        rows, {"n": cfg.kmeans.ns[0], "d": cfg.kmeans.ds[0], "k": cfg.kmeans.ks[0]},
        base_specs, folder)
    made += plots.assign_plots(
        rows, {"n": cfg.assign.ns[0], "d": cfg.assign.d, "k": cfg.assign.ks[0]}, base_specs,
        folder)
    made += plots.features_plots(rows, folder)
    made += plots.pipeline_plots(rows, folder)
    return made


def run_bench(cfg: BenchConfig) -> Path:
    """Run the configured suites; returns the result folder. Suites that fail are
    recorded in the summary and raised after every output is written."""
    check_config(cfg)
    suites = selected_suites(cfg.suite, list(cfg.skip))
    name = f"{cfg.suite.value}-{cfg.preset_name}"
    results_dir = Path(cfg.results_dir).resolve() if cfg.results_dir else RESULTS
    folder = results_dir / f"{name}-{utc_stamp()}"
    header = run_header()
    header.update(benchmark=name, suite=cfg.suite.value, preset=cfg.preset_name,
                  config=OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True),
                  load_1m_before=round(os.getloadavg()[0], 2))
    log.info("benchmarks %s: suites %s into %s", name, [s.value for s in suites], folder)
    rows: list[dict] = []
    summary: dict[str, object] = {"suite_seconds": {}, "errors": {}}
    scratch = Path(tempfile.mkdtemp(prefix="bigseg-bench-"))
    ctx = RunContext.create(cfg, scratch)
    start = time.perf_counter()
    try:
        for suite in suites:
            module = _suite_module(suite)
            began = time.perf_counter()
            log.info("suite %s: starting", suite.value)
            try:
                mine = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - recorded, the other suites still run
                log.exception("suite %s failed", suite.value)
                summary["errors"][suite.value] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                summary["suite_seconds"][suite.value] = round(time.perf_counter() - began, 1)
            rows += mine
            summary[suite.value] = module.summarise(mine)
            log.info("suite %s: %d rows in %.0f s", suite.value, len(mine),
                     summary["suite_seconds"][suite.value])
    finally:
        ctx.sessions.close()
        shutil.rmtree(scratch, ignore_errors=True)
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    summary["load_1m_after"] = round(os.getloadavg()[0], 2)
    base_specs = {ctx.base_workers.spec, f"threads:{thread_count(ctx.threads[0])}"}
    if any(r["suite"] == "kmeans" for r in rows):
        summary["scaling"] = scaling_summary(
            rows, {"n": cfg.kmeans.ns[0], "d": cfg.kmeans.ds[0], "k": cfg.kmeans.ks[0]},
            base_specs)

    payload = {**header, "rows": rows, "summary": summary}
    write_outputs(folder, results_dir / f"{name}-latest.json", payload)
    if cfg.plots:
        made = make_plots(ctx, rows, folder)
        log.info("plots: %s", ", ".join(p.name for p in made) or "none")
    log.info("\n%s", format_rows(rows, TABLE_COLUMNS))
    log.info("summary: %s", json.dumps({k: v for k, v in summary.items() if k != "scaling"},
                                       default=str))
    if cfg.mlflow:
        from benchmarks.mlflow_log import log_run, tracking_uri

        log_run(uri=tracking_uri(cfg.tracking_uri), experiment=cfg.experiment,
                run_name=folder.name, rows=rows, summary=summary, folder=folder,
                params={"preset": cfg.preset_name, "suite": cfg.suite.value,
                        "git_commit": header["git_commit"],
                        "cpu": header["machine"]["cpu"], "cores": header["machine"]["cores"],
                        "workers": ",".join(cfg.workers)})
    log.info("results in %s (%.0f s)", folder, summary["wall_s"])
    if summary["errors"]:
        raise RuntimeError(f"suites failed: {summary['errors']}; partial results in {folder}")
    return folder


@hydra.main(version_base="1.3", config_path="conf", config_name="bench")
def main(cfg: DictConfig) -> None:
    logging.getLogger("py4j").setLevel(logging.WARNING)
    run_bench(to_bench_config(cfg))


if __name__ == "__main__":
    main()
