"""Rule-based segmentations: a rule file (RuleSetConfig) compiled to Spark expressions.

``fit_ruleset(df, cfg)`` resolves the rule file's inputs against the table, fits the
percentile thresholds it asks for (one aggregation) and returns a
:class:`RuleSegmentation`; its ``assign`` adds the segment column (pure Spark SQL, so it
runs as a plain projection on any cluster), and ``check`` counts, in one more aggregation,
how many customers each segment gets, how many no rule covers and how many two or more
rules claim, with example rows. ``apply_ruleset`` does all three and raises
:class:`RuleCoverageError` when the table is not a partition and the config does not
allow it.

Two kinds of rule files:

- ``kind: rules``: named segments, each with a ``when`` condition (bigseg.segments.conditions);
- ``kind: grid``: the cross product of ``dimensions``, each an input cut into ``bands``
  (``[25, 35]`` -> "<25", "25-34", "35+") or taken as it is (a region, a city tier).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.config import RuleSetConfig, SegmentsConfig
from bigseg.segments.conditions import ConditionCompiler, Thresholds, pct_requests

log = logging.getLogger(__name__)

KINDS = ("rules", "grid")
RESOLVE = ("exclusive", "first")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATCHED = "_bigseg_matched"


class RuleCoverageError(ValueError):
    """A rule table leaves customers uncovered or assigns some to two segments."""

    def __init__(self, message: str, check: RuleCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass
class RuleCheck:
    """What one rule set did to one table.

    ``sizes``: customers per segment after resolution (first matching rule; ``otherwise``
    included); ``overlaps``: customers per combination of two or more matching segments
    ("A + B"); examples: rows (customer id when present, the inputs, the matches).
    """

    ruleset: str
    n_rows: int
    sizes: dict[str, int]
    n_uncovered: int
    n_overlap: int
    overlaps: dict[str, int] = field(default_factory=dict)
    n_otherwise: int = 0
    examples_uncovered: list[dict[str, Any]] = field(default_factory=list)
    examples_overlap: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_partition(self) -> bool:
        return self.n_uncovered == 0 and self.n_overlap == 0

    def table(self) -> pd.DataFrame:
        """Segment, customers and share, uncovered and overlap rows included."""
        rows = [{"segment": k, "customers": v} for k, v in self.sizes.items()]
        if self.n_uncovered:
            rows.append({"segment": "(uncovered)", "customers": self.n_uncovered})
        for combo, n in self.overlaps.items():
            rows.append({"segment": f"(overlap) {combo}", "customers": n})
        out = pd.DataFrame(rows, columns=["segment", "customers"])
        out["share"] = out["customers"] / max(self.n_rows, 1)
        return out

    def describe(self) -> str:
        parts = []
        if self.n_uncovered:
            parts.append(
                f"{self.n_uncovered} of {self.n_rows} customers match no rule "
                f"(examples: {self.examples_uncovered})"
            )
        if self.n_overlap:
            combos = ", ".join(f"{k}: {v}" for k, v in self.overlaps.items())
            parts.append(
                f"{self.n_overlap} of {self.n_rows} customers match two or more rules "
                f"({combos}; examples: {self.examples_overlap})"
            )
        return "; ".join(parts) or f"{self.n_rows} customers, one segment each"


def load_ruleset(path: str | Path) -> RuleSetConfig:
    """A rule file read outside Hydra, checked against the RuleSetConfig schema."""
    merged = OmegaConf.merge(OmegaConf.structured(RuleSetConfig), OmegaConf.load(path))
    cfg = OmegaConf.to_object(merged)
    if not cfg.name:
        cfg.name = Path(path).stem
    return cfg


def check_ruleset(cfg: RuleSetConfig) -> None:
    """Validate a rule file's structure (the table is checked when it is fitted)."""
    name = cfg.name or "<unnamed>"
    rules = [
        (bool(cfg.name), "a rule set needs a name"),
        (cfg.kind in KINDS, f"rule set {name!r}: kind={cfg.kind!r} should be one of {KINDS}"),
        (cfg.resolve in RESOLVE,
         f"rule set {name!r}: resolve={cfg.resolve!r} should be one of {RESOLVE}"),
        (cfg.kind != "rules" or len(cfg.segments) > 0,
         f"rule set {name!r}: kind='rules' needs at least one segment"),
        (cfg.kind != "grid" or len(cfg.dimensions) > 0,
         f"rule set {name!r}: kind='grid' needs at least one dimension"),
    ]
    for ok, message in rules:
        if not ok:
            raise ValueError(message)
    seen: set[str] = set()
    for i, seg in enumerate(cfg.segments):
        if not isinstance(seg, Mapping) or not seg.get("name") or "when" not in seg:
            raise ValueError(
                f"rule set {name!r}: segment #{i} should be a mapping with `name` and "
                f"`when`, got {seg!r}"
            )
        if seg["name"] in seen:
            raise ValueError(f"rule set {name!r}: segment name {seg['name']!r} appears twice")
        seen.add(seg["name"])
    for i, dim in enumerate(cfg.dimensions):
        _check_dimension(name, i, dim, cfg.inputs)


def _check_dimension(name: str, i: int, dim: Any, inputs: Mapping[str, str]) -> None:
    if not isinstance(dim, Mapping) or "input" not in dim:
        raise ValueError(f"rule set {name!r}: dimension #{i} needs an `input`, got {dim!r}")
    if dim["input"] not in inputs:
        raise ValueError(
            f"rule set {name!r}: dimension #{i} reads input {dim['input']!r}, not one of "
            f"the inputs {sorted(inputs)}"
        )
    bands = list(dim.get("bands") or [])
    if bands != sorted(set(bands)):
        raise ValueError(
            f"rule set {name!r}: dimension {dim['input']!r}: bands={bands} should be "
            "strictly increasing"
        )
    labels = dim.get("labels")
    if labels is not None and (not bands or len(labels) != len(bands) + 1):
        raise ValueError(
            f"rule set {name!r}: dimension {dim['input']!r}: labels={list(labels)} should "
            f"have len(bands) + 1 = {len(bands) + 1} entries"
        )


def band_labels(bands: Sequence[float]) -> list[str]:
    """Labels of the len(bands) + 1 intervals: [25, 35] -> ["<25", "25-34", "35+"]."""
    ints = all(float(b).is_integer() for b in bands)

    def show(b: float) -> str:
        return str(int(b)) if ints else f"{b:g}"

    middle = [
        f"{show(lo)}-{show(hi - 1)}" if ints else f"{show(lo)}-<{show(hi)}"
        for lo, hi in zip(bands[:-1], bands[1:], strict=True)
    ]
    return [f"<{show(bands[0])}", *middle, f"{show(bands[-1])}+"]


def _resolve_inputs(df: DataFrame, cfg: RuleSetConfig) -> tuple[dict[str, Column], dict[str, str]]:
    """Input alias -> Column, and -> SQL text; a missing column names the rule set."""
    columns, sql = {}, {}
    for alias, source in cfg.inputs.items():
        if _IDENTIFIER.match(source):
            if source not in df.columns:
                raise ValueError(
                    f"rule set {cfg.name!r}: input {alias!r} reads column {source!r}, which "
                    f"the table lacks; it has {df.columns}"
                )
            columns[alias], sql[alias] = F.col(source), f"`{source}`"
            continue
        expr = F.expr(source)
        try:
            df.select(expr).schema  # noqa: B018 - analysis only: names a bad expression now
        except Exception as exc:  # noqa: BLE001 - AnalysisException/ParseException alike
            raise ValueError(
                f"rule set {cfg.name!r}: input {alias!r} = {source!r} does not compile "
                f"against the table: {str(exc).splitlines()[0]}"
            ) from exc
        columns[alias], sql[alias] = expr, source
    return columns, sql


def _fit_thresholds(
    df: DataFrame, cfg: RuleSetConfig, inputs: Mapping[str, Column], accuracy: int
) -> Thresholds:
    wanted: dict[str, set[float]] = {}
    for seg in cfg.segments:
        for alias, p in pct_requests(seg["when"], cfg.name, seg["name"]):
            if alias not in inputs:
                raise ValueError(
                    f"rule set {cfg.name!r}, segment {seg['name']!r}: percentile of unknown "
                    f"input {alias!r}; inputs are {sorted(inputs)}"
                )
            wanted.setdefault(alias, set()).add(p)
    if not wanted:
        return {}
    order = {alias: sorted(ps) for alias, ps in wanted.items()}
    row = df.agg(*[
        F.percentile_approx(inputs[alias].cast("double"), ps, accuracy).alias(f"p{i}")
        for i, (alias, ps) in enumerate(order.items())
    ]).first()
    thresholds: Thresholds = {}
    for i, (alias, ps) in enumerate(order.items()):
        values = row[f"p{i}"]
        if values is None:
            raise ValueError(
                f"rule set {cfg.name!r}: input {alias!r} has no non-null values, so its "
                f"percentiles {ps} are undefined"
            )
        thresholds.update({(alias, p): float(v) for p, v in zip(ps, values, strict=True)})
    log.info("rule set %s: percentile thresholds %s", cfg.name, thresholds)
    return thresholds


@dataclass
class RuleSegmentation:
    """A rule set bound to its inputs and fitted thresholds; applies to any table with
    the same columns (new customers get the thresholds fitted on the first table)."""

    cfg: RuleSetConfig
    thresholds: Thresholds
    output_col: str

    def _matched(self, df: DataFrame) -> Column:
        """array<string> of the names of every segment whose rule matches the row."""
        inputs, sql = _resolve_inputs(df, self.cfg)
        if self.cfg.kind == "grid":
            name = _grid_name(self.cfg, inputs)
            return F.when(name.isNull(), F.array().cast("array<string>")).otherwise(F.array(name))
        compiler = ConditionCompiler(self.cfg.name, inputs, sql, self.thresholds)
        hits = [
            F.when(compiler.compile(seg["when"], seg["name"]), F.lit(seg["name"]))
            for seg in self.cfg.segments
        ]
        # A null condition (an input is null) gives a null hit: not a match.
        return F.filter(F.array(*hits), lambda x: x.isNotNull())

    def _segment(self, matched: Column) -> Column:
        # The first matching rule wins; with resolve=exclusive an overlap is an error
        # unless allowed, so this only decides rows someone chose to allow.
        segment = F.when(F.size(matched) >= 1, F.element_at(matched, 1))
        if self.cfg.otherwise is not None:
            segment = F.coalesce(segment, F.lit(self.cfg.otherwise))
        return segment

    def assign(self, df: DataFrame) -> DataFrame:
        """``df`` with the segment name column added (null where uncovered)."""
        return df.withColumn(self.output_col, self._segment(self._matched(df)))

    def check(self, df: DataFrame, examples: int = 5) -> RuleCheck:
        """Counts per segment, uncovered and overlapping rows (one aggregation), with
        examples (one more, small job only when there are problems)."""
        matched = self._matched(df)
        grouped = df.select(matched.alias(_MATCHED)).groupBy(_MATCHED).count().collect()
        n_rows = sum(int(r["count"]) for r in grouped)
        # Every named rule appears, matched or not (grids have no named rules).
        sizes = {seg["name"]: 0 for seg in self.cfg.segments}
        n_uncovered = n_overlap = n_otherwise = 0
        overlaps: dict[str, int] = {}
        for r in grouped:
            names, n = list(r[_MATCHED]), int(r["count"])
            if not names:
                if self.cfg.otherwise is not None:
                    n_otherwise += n
                    sizes[self.cfg.otherwise] = sizes.get(self.cfg.otherwise, 0) + n
                else:
                    n_uncovered += n
                continue
            sizes[names[0]] = sizes.get(names[0], 0) + n
            if len(names) > 1:
                n_overlap += n
                combo = " + ".join(names)
                overlaps[combo] = overlaps.get(combo, 0) + n
        check = RuleCheck(
            ruleset=self.cfg.name, n_rows=n_rows, sizes=dict(sorted(sizes.items())),
            n_uncovered=n_uncovered, n_overlap=n_overlap,
            overlaps=dict(sorted(overlaps.items(), key=lambda kv: -kv[1])),
            n_otherwise=n_otherwise,
        )
        if (n_uncovered or n_overlap) and examples > 0:
            self._examples(df, matched, check, examples)
        return check

    def _examples(self, df: DataFrame, matched: Column, check: RuleCheck, n: int) -> None:
        inputs, _ = _resolve_inputs(df, self.cfg)
        key = [F.col("customer_id")] if "customer_id" in df.columns else []
        shown = key + [col.alias(alias) for alias, col in inputs.items()]
        staged = df.select(*shown, matched.alias("matched"))
        if check.n_uncovered:
            rows = staged.filter(F.size("matched") == 0).limit(n).collect()
            check.examples_uncovered = [_plain(r) for r in rows]
        if check.n_overlap:
            rows = staged.filter(F.size("matched") > 1).limit(n).collect()
            check.examples_overlap = [_plain(r) for r in rows]


def _plain(row: Any) -> dict[str, Any]:
    out = row.asDict()
    if "matched" in out:
        out["matched"] = list(out["matched"])
    return out


def _grid_name(cfg: RuleSetConfig, inputs: Mapping[str, Column]) -> Column:
    """The cell name, e.g. "35-44 x north"; null when any dimension is null."""
    parts = []
    for dim in cfg.dimensions:
        value = inputs[dim["input"]]
        bands = list(dim.get("bands") or [])
        prefix = str(dim.get("prefix", ""))
        if bands:
            labels = list(dim.get("labels") or band_labels(bands))
            label = F.when(value.isNull(), F.lit(None).cast("string"))
            for edge, text in zip(bands, labels[:-1], strict=True):
                label = label.when(value < F.lit(edge), F.lit(prefix + text))
            label = label.otherwise(F.lit(prefix + labels[-1]))
        else:
            label = F.concat(F.lit(prefix), value.cast("string"))
        parts.append(label)
    name = parts[0]
    for part in parts[1:]:
        # concat (not concat_ws) so one null dimension leaves the whole cell null.
        name = F.concat(name, F.lit(" x "), part)
    return name


def fit_ruleset(df: DataFrame, cfg: RuleSetConfig, accuracy: int = 10_000) -> RuleSegmentation:
    """Check the rule file, resolve its inputs on ``df`` and fit its percentiles."""
    check_ruleset(cfg)
    inputs, _ = _resolve_inputs(df, cfg)
    thresholds = _fit_thresholds(df, cfg, inputs, accuracy) if cfg.kind == "rules" else {}
    segmentation = RuleSegmentation(cfg, thresholds, cfg.output_col or f"segment_{cfg.name}")
    if cfg.kind == "rules":
        # Compile once here so a bad condition fails before any job runs.
        segmentation._matched(df)
    return segmentation


def apply_ruleset(
    df: DataFrame,
    cfg: RuleSetConfig,
    *,
    allow_uncovered: bool = False,
    allow_overlap: bool = False,
    examples: int = 5,
) -> tuple[DataFrame, RuleCheck]:
    """Fit, check and assign one rule set; the rule file's own allow_* flags win.

    Raises RuleCoverageError (a ValueError) naming the counts and example rows when
    customers are uncovered or overlapping and that is not allowed. ``resolve: first``
    rule sets allow overlaps by construction (they are still counted).
    """
    seg = fit_ruleset(df, cfg)
    check = seg.check(df, examples=examples)
    uncovered_ok = cfg.allow_uncovered if cfg.allow_uncovered is not None else allow_uncovered
    overlap_ok = cfg.resolve == "first" or (
        cfg.allow_overlap if cfg.allow_overlap is not None else allow_overlap
    )
    problems = []
    if check.n_uncovered and not uncovered_ok:
        problems.append("uncovered")
    if check.n_overlap and not overlap_ok:
        problems.append("overlap")
    if problems:
        raise RuleCoverageError(
            f"rule set {cfg.name!r} is not a partition of the customers: {check.describe()}. "
            "Fix the rules, add `otherwise:`, or set allow_uncovered / allow_overlap.",
            check,
        )
    if not check.is_partition:
        log.warning("rule set %s (allowed): %s", cfg.name, check.describe())
    log.info("rule set %s: %s", cfg.name, check.sizes)
    return seg.assign(df), check


def apply_rules(df: DataFrame, cfg: SegmentsConfig) -> tuple[DataFrame, dict[str, RuleCheck]]:
    """Every rule set named in ``cfg.rules``, one segment column each.

    Segments smaller than ``cfg.min_segment_share`` are logged as warnings (a rule that
    matches almost nobody is usually a typo in a threshold), not errors.
    """
    checks = {}
    for key in cfg.rules:
        if key not in cfg.rulesets:
            raise ValueError(
                f"segments.rules names {key!r}, not one of the rule sets {sorted(cfg.rulesets)}"
            )
        ruleset = cfg.rulesets[key]
        if not ruleset.name:
            ruleset = replace(ruleset, name=key)
        df, checks[key] = apply_ruleset(
            df, ruleset, allow_uncovered=cfg.allow_uncovered,
            allow_overlap=cfg.allow_overlap, examples=cfg.examples,
        )
        check = checks[key]
        small = {k: v for k, v in check.sizes.items()
                 if check.n_rows and v / check.n_rows < cfg.min_segment_share}
        if small:
            log.warning("rule set %s: segments below min_segment_share=%s: %s",
                        key, cfg.min_segment_share, small)
    return df, checks
