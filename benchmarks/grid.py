"""Grid points of a suite and the worker specs its Spark systems run on."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from benchmarks.config import GridShape

_LOCAL = re.compile(r"local\[(\d+)\]")
_CLUSTER = re.compile(r"cluster:(\d+)")


@dataclass(frozen=True)
class Workers:
    """Where a Spark system runs: ``local[N]`` or a loopback ``cluster:N``."""

    spec: str
    kind: str  # "local" or "cluster"
    count: int  # task slots (local threads, or cluster workers x cores per worker)

    @classmethod
    def parse(cls, spec: str, cores_per_worker: int = 1) -> Workers:
        if m := _LOCAL.fullmatch(spec):
            count = int(m.group(1))
            kind = "local"
        elif m := _CLUSTER.fullmatch(spec):
            count = int(m.group(1)) * cores_per_worker
            kind = "cluster"
        else:
            raise ValueError(f"workers entry {spec!r} should be 'local[N]' or 'cluster:N'")
        if count < 1:
            raise ValueError(f"workers entry {spec!r} should have N >= 1")
        return cls(spec, kind, count)


def grid_points(axes: dict[str, list], shape: GridShape) -> list[dict]:
    """Points of the grid as dicts, in order, without repeats.

    ``axes`` maps a parameter to its values, base value first. ``product``: every
    combination; ``axes``: the base point, then each parameter varied alone.
    """
    for name, values in axes.items():
        if not values:
            raise ValueError(f"grid axis {name!r} is empty; give at least one value")
    names = list(axes)
    if shape == GridShape.product:
        combos = itertools.product(*(axes[n] for n in names))
    else:
        base = tuple(axes[n][0] for n in names)
        combos = [base]
        for i, name in enumerate(names):
            combos += [base[:i] + (v,) + base[i + 1:] for v in axes[name][1:]]
    points, seen = [], set()
    for combo in combos:
        if combo not in seen:
            seen.add(combo)
            points.append(dict(zip(names, combo, strict=True)))
    return points


def base_point(axes: dict[str, list]) -> dict:
    return {name: values[0] for name, values in axes.items()}


@dataclass(frozen=True)
class PlannedRun:
    system: str
    point: dict
    workers: Workers | None  # None: an in-process system
    threads: int | None  # in-process thread count (None: the libraries' default)


def plan_runs(points: list[dict], *, every: bool, systems: list[str], spark_systems,
              workers: list[Workers], threads: list[int | None]) -> list[PlannedRun]:
    """Every system at every point on the base workers/threads; at the other worker
    specs and thread counts, the base point only (``every``: all points). In-process
    systems first, then the Spark systems grouped by worker spec (one session each)."""
    base = points[0]
    local = [s for s in systems if s not in spark_systems]
    remote = [s for s in systems if s in spark_systems]
    plan = []
    for i, count in enumerate(threads):
        for point in points if i == 0 or every else [base]:
            plan += [PlannedRun(s, point, None, count) for s in local]
    for i, spec in enumerate(workers):
        for point in points if i == 0 or every else [base]:
            plan += [PlannedRun(s, point, spec, None) for s in remote]
    return plan
