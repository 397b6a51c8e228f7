"""Extrapolate measured k-means throughput to a large cluster: a Markdown table for
benchmarks/README.md, every assumption printed beside it.

    .venv/bin/python -m benchmarks.extrapolate                    # 100 nodes x 16 cores, 1B x 32
    .venv/bin/python -m benchmarks.extrapolate --nodes 50 --cores-per-node 32 --ks 64,4096

Measured (from benchmarks/results/): bigseg-spark's effective GFLOP/s per core at each k
of the scaling run (the nearest measured k at or below the target; the largest above it),
the worker memory per shard byte, and the IVF speed-up at k=65,536 from the engine-ann
runs. Assumed: the cluster, the network, that exact assignment stays linear in n*k*d
(the scaling run's fitted exponents say how close that is), and bigseg's allreduce as
implemented: a k-nomial tree of radix f (``bigseg.spark.collective``, f=2: binomial), whose
reduce and broadcast each take (f-1)·ceil(log_f P) message times on the critical path, a
message being the k x (d+1) float64 partial sums and counts. The star it replaced (task 0
receives and sends P-1 messages) and a per-node ring are kept as comparison columns.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from benchmarks.common import RESULTS
from bigseg.kmeans.assign import AUTO_ANN_MIN_CLUSTERS
from bigseg.spark.collective import DEFAULT_FANOUT

log = logging.getLogger("bigseg.benchmarks.extrapolate")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def gflops_per_core_by_k(scaling: dict, system: str = "bigseg-spark") -> dict[int, float]:
    """Effective GFLOP/s per task slot at each k of the base-n, base-d line, base workers
    (from the median iteration)."""
    cfg = scaling["config"]
    n0, d0, w0 = cfg["kmeans"]["ns"][0], cfg["kmeans"]["ds"][0], cfg["workers"][0]
    return {r["k"]: 2.0 * r["n"] * r["k"] * r["d"] / r["per_iter_median_s"] / 1e9 / r["workers"]
            for r in scaling["rows"]
            if r["suite"] == "kmeans" and r["system"] == system and r["n"] == n0
            and r["d"] == d0 and r["workers_spec"] == w0}


def gflops_per_core_from_engine(engine: dict, system: str = "bigseg spark") -> dict[int, float]:
    """The same from a bench_engine run (1M x 32, two tasks; an idle machine when taken)."""
    return {r["k"]: r["gflops"] / 2 for r in engine["rows"]
            if r["system"] == system and not r.get("quality_run")}


def nearest_measured(by_k: dict[int, float], k: int) -> tuple[int, float]:
    below = [m for m in by_k if m <= k]
    chosen = max(below) if below else min(by_k)
    return chosen, by_k[chosen]


def ivf_speedup(folder: Path = RESULTS) -> tuple[float, list[str]]:
    """The smallest exact/IVF per-iteration ratio over the engine-ann runs (conservative)."""
    ratios, sources = [], []
    for path in sorted(folder.glob("engine-ann-2*.json")):
        rows = load(path)["rows"]
        exact = next((r for r in rows if r["system"] == "bigseg exact"), None)
        ivf = next((r for r in rows if r.get("assignment") == "ivf"), None)
        if exact and ivf:
            ratios.append(exact["per_iter_s"] / ivf["per_iter_s"])
            sources.append(f"{path.name}: {ratios[-1]:.2f}x at k={ivf['k']:,}")
    if not ratios:
        raise FileNotFoundError(f"no engine-ann-*.json with exact and IVF rows in {folder}")
    return min(ratios), sources


def memory_model(scaling: dict) -> tuple[float, float]:
    """(worker RSS growth per shard byte, one Python worker's RSS before data in MB).

    The growth is taken at the largest shard measured: Spark reuses Python workers, so
    a small shard's task inherits an earlier, larger peak and its ratio overstates.
    """
    rows = [r for r in scaling["rows"] if r.get("worker_mb_per_shard_mb") and r.get("shard_mb")]
    if not rows:
        return 3.0, 250.0
    largest = max(r["shard_mb"] for r in rows)
    factor = max(r["worker_mb_per_shard_mb"] for r in rows if r["shard_mb"] == largest)
    baseline = min(r["task_baseline_rss_mb"] for r in rows)
    return factor, baseline


def tree_levels(tasks: int, fanout: int) -> int:
    """ceil(log_fanout(tasks)): the depth of the k-nomial tree over ``tasks`` ranks."""
    levels, span = 0, 1
    while span < tasks:
        span *= fanout
        levels += 1
    return levels


def tree_allreduce_s(tasks: int, fanout: int, message_bytes: float, bandwidth: float,
                     latency_s: float) -> float:
    """Reduce up plus broadcast down the tree: each is ceil(log_f P) rounds in which a rank
    moves f-1 messages one after another (a rank takes its small subtrees' partials while
    the large ones are still being summed below), every message at the full link speed."""
    return 2 * (fanout - 1) * tree_levels(tasks, fanout) * (message_bytes / bandwidth
                                                            + latency_s)


def extrapolate(args: argparse.Namespace, scaling: dict) -> tuple[list[dict], dict]:
    by_k = (gflops_per_core_from_engine(load(args.engine)) if args.engine
            else gflops_per_core_by_k(scaling))
    if not by_k:
        raise ValueError("the scaling results have no bigseg-spark rows on the base line")
    ivf, ivf_sources = ivf_speedup(args.results)
    mem, worker_base_mb = memory_model(scaling)
    tasks = args.nodes * args.cores_per_node
    bandwidth = args.network_gbit * 1e9 / 8  # bytes/s
    shard_gb = args.n * args.d * 4 / args.nodes / 1e9
    rows = []
    for k in args.ks:
        measured_k, per_core = nearest_measured(by_k, k)
        flops = 2.0 * args.n * k * args.d
        exact_s = flops / (per_core * 1e9 * tasks)
        use_ivf = k >= args.ivf_from_k
        compute_s = exact_s / ivf if use_ivf else exact_s
        sums_bytes = k * (args.d + 1) * 8  # float64 sums and counts per task
        star_s = 2 * (tasks - 1) * sums_bytes / bandwidth + 2 * args.latency_ms / 1e3
        tree_s = tree_allreduce_s(tasks, args.fanout, sums_bytes, bandwidth,
                                  args.latency_ms / 1e3)
        # What a per-node pre-reduction plus a ring over the nodes would cost instead.
        ring_s = (2 * (args.nodes - 1) / args.nodes * sums_bytes / bandwidth
                  + 2 * (args.nodes - 1) * args.latency_ms / 1e3)
        rows.append({
            "k": k, "gflops_per_core_measured": round(per_core, 1), "measured_at_k": measured_k,
            "assignment": "ivf" if use_ivf else "exact",
            "compute_s_per_iter": compute_s, "allreduce_tree_s": tree_s,
            "allreduce_star_s": star_s, "allreduce_ring_s": ring_s,
            "per_iter_s": compute_s + tree_s, "per_iter_star_s": compute_s + star_s,
            "run_s": args.iterations * (compute_s + tree_s),
            "shard_gb_per_node": shard_gb,
            "worker_gb_per_node": shard_gb * mem + args.cores_per_node * worker_base_mb / 1e3,
        })
    assumptions = {
        "nodes": args.nodes, "cores_per_node": args.cores_per_node, "tasks": tasks,
        "n": args.n, "d": args.d, "iterations": args.iterations,
        "network_gbit_per_s": args.network_gbit, "latency_ms": args.latency_ms,
        "ivf_from_k": args.ivf_from_k, "tree_fanout": args.fanout,
        "tree_levels": tree_levels(tasks, args.fanout), "ivf_speedup": round(ivf, 2),
        "ivf_sources": ivf_sources, "worker_memory_per_shard_byte": mem,
        "python_worker_baseline_mb": worker_base_mb,
        "throughput_from": str(args.engine or args.scaling),
        "scaling_run": scaling.get("started"), "scaling_commit": scaling.get("git_commit"),
        "scaling_machine": scaling.get("machine", {}).get("cpu"),
    }
    return rows, assumptions


def markdown(rows: list[dict], assumptions: dict) -> str:
    a = assumptions
    head = (f"{a['n']:,} points x {a['d']} features, {a['nodes']} nodes x "
            f"{a['cores_per_node']} cores ({a['tasks']:,} tasks), {a['iterations']} iterations, "
            f"{a['network_gbit_per_s']:g} Gbit/s")
    lines = [head, "",
             "| k | assignment | GFLOP/s per core (measured at k) | compute s/iter | "
             f"allreduce s/iter (tree f={a['tree_fanout']}, as built) | "
             "allreduce s/iter (star, before) | allreduce s/iter (ring over nodes) | "
             "s/iter | s/iter with the star | run | data GB per node (workers' RSS) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['k']:,} | {r['assignment']} | {r['gflops_per_core_measured']} "
            f"({r['measured_at_k']:,}) | {r['compute_s_per_iter']:.2f} | "
            f"{r['allreduce_tree_s']:.3f} | {r['allreduce_star_s']:.3f} | "
            f"{r['allreduce_ring_s']:.3f} | {r['per_iter_s']:.2f} | {r['per_iter_star_s']:.2f} | "
            f"{_duration(r['run_s'])} | {r['shard_gb_per_node']:.2f} "
            f"({r['worker_gb_per_node']:.1f}) |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scaling", type=Path, default=RESULTS / "kmeans-scaling-latest.json")
    parser.add_argument("--engine", type=Path, default=None,
                        help="take GFLOP/s per core from this bench_engine JSON instead, "
                             "e.g. benchmarks/results/engine-latest.json")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder with engine-ann-*.json")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--cores-per-node", type=int, default=16)
    parser.add_argument("--n", type=float, default=1e9)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--ks", type=lambda s: [int(k) for k in s.split(",")],
                        default=[64, 1024, 65_536])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--network-gbit", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=0.2)
    parser.add_argument("--fanout", type=int, default=DEFAULT_FANOUT,
                        help="the collective tree's radix (TcpAllreduce's fanout)")
    parser.add_argument("--ivf-from-k", type=int, default=AUTO_ANN_MIN_CLUSTERS,
                        help="where assignment='auto' switches to IVF")
    args = parser.parse_args(argv)
    args.n = int(args.n)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows, assumptions = extrapolate(args, load(args.scaling))
    log.info("%s\n\nassumptions: %s", markdown(rows, assumptions),
             json.dumps(assumptions, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
