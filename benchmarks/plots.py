"""The run's figures (PNG, matplotlib's Agg backend): time against n, k, d and workers,
points per second per system; per suite, from the result rows."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from bigseg.figures import save_png

log = logging.getLogger("bigseg.benchmarks.plots")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.5))


def line_plot(rows: list[dict], *, x: str, y: str, series: Callable[[dict], str], title: str,
              ylabel: str, path: Path, log_x: bool = True, log_y: bool = True) -> Path | None:
    """One line per series, sorted by x; nothing is drawn for fewer than two x values."""
    lines: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get(x) is not None and row.get(y):
            lines.setdefault(series(row), []).append((row[x], row[y]))
    if not any(len({p[0] for p in pts}) > 1 for pts in lines.values()):
        return None
    fig, ax = _figure()
    for name, pts in sorted(lines.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    if log_x:
        ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=x, ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def bar_plot(labels: list[str], values: list[float], *, title: str, xlabel: str,
             path: Path, log_x: bool = False) -> Path | None:
    if not labels:
        return None
    fig, ax = _figure()
    ax.barh(labels, values)
    if log_x:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel)
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path)


def _at(rows: list[dict], **fixed) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in fixed.items())]


def _on_base(rows: list[dict], base_specs: set[str]) -> list[dict]:
    return [r for r in rows if r.get("workers_spec") in base_specs]


def kmeans_plots(rows: list[dict], base: dict, base_specs: set[str], folder: Path) -> list[Path]:
    """Per-iteration seconds against n, k, d (base values of the others, base workers),
    against workers (base point), and points/s per system at the base point."""
    rows = _at(rows, suite="kmeans")
    on_base = _on_base(rows, base_specs)
    made = []
    for axis in ("n", "k", "d"):
        fixed = {a: v for a, v in base.items() if a != axis}
        made.append(line_plot(
            _at(on_base, **fixed), x=axis, y="per_iter_s", series=lambda r: r["system"],
            title=f"k-means: seconds per iteration against {axis} "
                  f"({', '.join(f'{a}={v}' for a, v in fixed.items())})",
            ylabel="seconds per iteration", path=folder / f"kmeans_time_vs_{axis}.png"))
    at_base = _at(rows, **base)
    made.append(line_plot(
        at_base, x="workers", y="per_iter_s", series=lambda r: f"{r['system']} ({r['workers_kind']})",
        title=f"k-means: seconds per iteration against workers/threads "
              f"(n={base['n']}, d={base['d']}, k={base['k']})",
        ylabel="seconds per iteration", path=folder / "kmeans_time_vs_workers.png",
        log_y=False))
    bars = sorted(_on_base(at_base, base_specs), key=lambda r: r["points_per_s"])
    made.append(bar_plot(
        [r["system"] for r in bars], [r["points_per_s"] for r in bars],
        title=f"k-means: points per second per iteration (n={base['n']}, d={base['d']}, "
              f"k={base['k']})", xlabel="points / s", path=folder / "kmeans_points_per_s.png",
        log_x=True))
    return [p for p in made if p]


def assign_plots(rows: list[dict], base: dict, base_specs: set[str], folder: Path) -> list[Path]:
    on_base = _on_base(_at(rows, suite="assign"), base_specs)
    made = []
    for axis, other in (("n", "k"), ("k", "n")):
        made.append(line_plot(
            _at(on_base, **{other: base[other]}), x=axis, y="points_per_s",
            series=lambda r: r["system"],
            title=f"scoring: points per second against {axis} ({other}={base[other]}, "
                  f"d={base['d']})",
            ylabel="points / s", path=folder / f"assign_points_per_s_vs_{axis}.png"))
    return [p for p in made if p]


def features_plots(rows: list[dict], folder: Path) -> list[Path]:
    rows = _at(rows, suite="features")
    made = bar_plot([r["system"] for r in rows], [r["total_s"] for r in rows],
                    title="features: seconds per system", xlabel="seconds",
                    path=folder / "features_seconds.png")
    return [made] if made else []


def pipeline_plots(rows: list[dict], folder: Path) -> list[Path]:
    rows = [r for r in _at(rows, suite="pipeline") if r["stage"] != "total"]
    made = bar_plot([r["stage"] for r in rows], [r["total_s"] for r in rows],
                    title="pipeline: seconds per stage", xlabel="seconds",
                    path=folder / "pipeline_stages.png")
    return [made] if made else []
