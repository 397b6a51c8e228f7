"""Seconds per allreduce of bigseg's TCP collective, star vs tree, on loopback.

P ranks run as separate processes (multiprocessing, fork), meeting through a
Manager-backed rendezvous (a shared list and barrier, as ``allGather`` would), then
allreduce the k-means partials of k centroids x d features in float64 (sums k x d,
counts k, inertia 1: 16.8 MB at k=65,536, d=32). Each measured allreduce starts right
after a one-float allreduce that lines the ranks up; its time is the slowest rank's,
the figure is the median of ``--repeats``. Bytes through the busiest rank are the
array bytes it sent plus received in one allreduce (``TcpAllreduce.bytes_*``).

On a 2-core machine this is CPU-bound: every topology copies the same 2·(P-1) messages
through the kernel and does the same P-1 additions, so the tree's gain here is only the
spread of that work over the ranks (at most the core count); the busiest-rank bytes are
what decides on a real network, where each node has its own link.

    python -m benchmarks.bench_collective                    # P = 2, 4, 8, 16; k = 1,024 and 65,536
    python -m benchmarks.bench_collective --ps 2,4 --ks 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np

from benchmarks.common import format_rows, run_header, write_results

log = logging.getLogger("bigseg.benchmarks.collective")


def partials(rank: int, k: int, d: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rank)
    return {"sums": rng.normal(size=(k, d)), "counts": rng.random(k), "inertia": rng.random(1)}


def _rank_main(rank, world_size, messages, barrier, results, k, d, topology, fanout, repeats):
    from bigseg.spark.collective import TcpAllreduce

    def rendezvous(message: str) -> list[str]:
        messages[rank] = message
        barrier.wait(timeout=120)
        return list(messages)

    try:
        arrays = partials(rank, k, d)
        tick = {"t": np.zeros(1)}
        with TcpAllreduce(rank, world_size, rendezvous, timeout=300,
                          topology=topology, fanout=fanout) as comm:
            comm.allreduce(arrays)  # warm-up: first-touch pages, socket buffers
            seconds = []
            for _ in range(repeats):
                comm.allreduce(tick)
                sent, received = comm.bytes_sent, comm.bytes_received
                t0 = time.perf_counter()
                total = comm.allreduce(arrays)
                seconds.append(time.perf_counter() - t0)
                moved = comm.bytes_sent - sent + comm.bytes_received - received
            checksum = float(total["inertia"][0])
        results.put((rank, seconds, moved, checksum, None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        results.put((rank, [], 0, 0.0, f"{type(exc).__name__}: {exc}"))


def measure(world_size: int, k: int, d: int, topology: str, fanout: int, repeats: int) -> dict:
    """One (P, k, topology) point: P processes, ``repeats`` timed allreduces."""
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        messages = manager.list([""] * world_size)
        barrier = manager.Barrier(world_size)
        results = ctx.Queue()
        procs = [ctx.Process(target=_rank_main, args=(r, world_size, messages, barrier, results,
                                                     k, d, topology, fanout, repeats))
                 for r in range(world_size)]
        for p in procs:
            p.start()
        got = [results.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    errors = [e for *_, e in got if e]
    if errors:
        raise RuntimeError(f"allreduce failed at P={world_size} {topology}: {errors[0]}")
    per_rep = [max(s[i] for _, s, *_ in got) for i in range(repeats)]  # the slowest rank
    if len({c for *_, c, _ in got}) != 1:
        raise RuntimeError(f"ranks disagree on the result at P={world_size} {topology}")
    message_bytes = sum(a.nbytes for a in partials(0, k, d).values())
    busiest = max(m for _, _, m, *_ in got)
    return {
        "topology": topology, "fanout": fanout if topology == "tree" else None,
        "P": world_size, "k": k, "d": d, "message_mb": round(message_bytes / 1e6, 3),
        "seconds_median": statistics.median(per_rep),
        "seconds_all": [round(s, 5) for s in per_rep],
        "busiest_rank_mb": round(busiest / 1e6, 2),
        "busiest_rank_messages": round(busiest / message_bytes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ps", type=lambda s: [int(p) for p in s.split(",")],
                        default=[2, 4, 8, 16])
    parser.add_argument("--ks", type=lambda s: [int(k) for k in s.split(",")],
                        default=[1_024, 65_536])
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--topologies", type=lambda s: s.split(","), default=["star", "tree"])
    parser.add_argument("--fanout", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    header = run_header()
    header["load_avg_before"] = os.getloadavg()
    header["config"] = vars(args)
    rows = []
    for k in args.ks:
        for world_size in args.ps:
            for topology in args.topologies:
                row = measure(world_size, k, args.d, topology, args.fanout, args.repeats)
                log.info("k=%d P=%d %s: %.4f s per allreduce, busiest rank %.1f MB",
                         k, world_size, topology, row["seconds_median"], row["busiest_rank_mb"])
                rows.append(row)
    header["load_avg_after"] = os.getloadavg()
    summary = {}
    for row in rows:
        star = next((r for r in rows if r["topology"] == "star" and r["P"] == row["P"]
                     and r["k"] == row["k"]), None)
        if row["topology"] == "tree" and star:
            summary[f"k{row['k']}_P{row['P']}_star_over_tree_seconds"] = round(
                star["seconds_median"] / row["seconds_median"], 2)
            summary[f"k{row['k']}_P{row['P']}_star_over_tree_busiest_bytes"] = round(
                star["busiest_rank_mb"] / row["busiest_rank_mb"], 2)
    log.info("\n%s", format_rows(rows, ["k", "P", "topology", "message_mb", "seconds_median",
                                        "busiest_rank_mb", "busiest_rank_messages"]))
    write_results("collective", header, rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
