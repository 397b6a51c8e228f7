"""Scaling figures from k-means rows: the fitted exponent of cost against n, k and d
(cost ~ x^b, least squares in log-log over the base slice), speedup against workers."""

from __future__ import annotations

import numpy as np


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """b of y ~ a x^b (least squares on logs); None for fewer than two distinct x."""
    if len(set(xs)) < 2:
        return None
    slope, _ = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope)


def scaling_summary(rows: list[dict], base: dict, base_specs: set[str],
                    cost: str = "per_iter_median_s") -> dict:
    """``{system: {"exponent_n": b, ..., "speedup_<kind>": {workers: x}, ...}}``; the
    base point's points/s and effective GFLOP/s from the same ``cost``."""
    rows = [r for r in rows if r.get("suite") == "kmeans" and r.get(cost)]
    out: dict[str, dict] = {}
    for system in sorted({r["system"] for r in rows}):
        mine = [r for r in rows if r["system"] == system]
        figures: dict[str, object] = {}
        for axis in ("n", "k", "d"):
            line = [r for r in mine if r["workers_spec"] in base_specs
                    and all(r[a] == v for a, v in base.items() if a != axis)]
            exponent = fit_exponent([r[axis] for r in line], [r[cost] for r in line])
            if exponent is not None:
                figures[f"exponent_{axis}"] = round(exponent, 3)
                figures[f"{axis}_values"] = sorted(r[axis] for r in line)
        at_base = [r for r in mine if all(r[a] == v for a, v in base.items())]
        for kind in sorted({r["workers_kind"] for r in at_base}):
            points = sorted((r["workers"], r[cost]) for r in at_base if r["workers_kind"] == kind)
            if len(points) > 1:
                one = points[0][1]
                figures[f"speedup_{kind}"] = {str(w): round(one / c, 3) for w, c in points}
                figures[f"{cost}_{kind}"] = {str(w): round(c, 4) for w, c in points}
        for r in at_base:
            if r["workers_spec"] in base_specs:
                gflops = 2.0 * r["n"] * r["k"] * r["d"] / r[cost] / 1e9
                figures["base_points_per_s"] = round(r["n"] / r[cost], 1)
                figures["base_gflops"] = round(gflops, 2)
                figures["base_gflops_per_core"] = round(gflops / max(1, r["workers"]), 2)
                figures["base_workers"] = r["workers_spec"]
        out[system] = figures
    return out



def markdown(summary: dict) -> str:
    """The curves as a Markdown table (benchmarks/README.md)."""
    lines = ["| system | cost ~ n^b | cost ~ k^b | cost ~ d^b | speedup vs workers | "
             "base points/s | base GFLOP/s per core |", "|---|---|---|---|---|---|---|"]
    for system, f in summary.items():
        speedups = "; ".join(
            f"{key.removeprefix('speedup_')}: " + ", ".join(f"{w}->{x:.2f}x" for w, x in v.items())
            for key, v in f.items() if key.startswith("speedup_"))
        lines.append(f"| {system} | {f.get('exponent_n', '')} | {f.get('exponent_k', '')} | "
                     f"{f.get('exponent_d', '')} | {speedups} | "
                     f"{f.get('base_points_per_s', 0):,.0f} | {f.get('base_gflops_per_core', '')} |")
    return "\n".join(lines)


def axis_markdown(payload: dict, cost: str = "per_iter_median_s") -> str:
    """Seconds per iteration along each axis of a run, per system on its base workers."""
    cfg = payload["config"]
    base = {"n": cfg["kmeans"]["ns"][0], "d": cfg["kmeans"]["ds"][0], "k": cfg["kmeans"]["ks"][0]}
    rows = [r for r in payload["rows"] if r["suite"] == "kmeans"]
    systems = sorted({r["system"] for r in rows})
    lines = ["| axis | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for axis in ("n", "k", "d"):
        values = sorted({r[axis] for r in rows})
        cells = []
        for system in systems:
            # the base workers: the first spec for Spark, the first thread count in-process
            specs = [r["workers_spec"] for r in rows if r["system"] == system]
            line = {r[axis]: r[cost] for r in rows if r["system"] == system
                    and r["workers_spec"] == specs[0]
                    and all(r[a] == v for a, v in base.items() if a != axis)}
            cells.append(" / ".join(f"{line[v]:.3g}" if v in line else "-" for v in values))
        lines.append(f"| {axis} = {' / '.join(f'{v:,}' for v in values)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import logging
    from pathlib import Path

    from benchmarks.common import RESULTS

    parser = argparse.ArgumentParser(description="Print a run's scaling summary as Markdown.")
    parser.add_argument("results", type=Path, nargs="?",
                        default=RESULTS / "kmeans-scaling-latest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    payload = json.loads(args.results.read_text())
    logging.getLogger(__name__).info("%s\n\n%s", markdown(payload["summary"]["scaling"]),
                                     axis_markdown(payload))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
