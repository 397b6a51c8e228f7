"""Segment profiles: size, share, revenue share, means and medians, lift, names.

One Spark aggregation with ``rollup(segment)`` gives every segment's figures and the
population's (the grand-total row, told apart by ``grouping_id``), medians included
(approximate percentiles). The rest is arithmetic on a segments x features table:

- index (lift) = 100 * segment mean / population mean (100 = average);
- z = (segment mean - population mean) / population standard deviation; the features
  with the largest |z| distinguish the segment;
- name: the vocabulary words of the distinguishing features whose index is at least
  ``high_index`` ("high" word) or at most ``low_index`` ("low" word), e.g.
  "high-value omnichannel"; names set by hand in ``ProfileConfig.names`` win.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bigseg.config import ProfileConfig

log = logging.getLogger(__name__)

_TOTAL = "__population__"


@dataclass
class SegmentProfiles:
    """Per-segment figures (``table``, indexed by segment) and the population's.

    ``table`` columns: size, share, revenue, revenue_share, mean_<f>, median_<f>,
    index_<f>, z_<f>, mix_<channel>, top_features (list), name.
    """

    table: pd.DataFrame
    population: pd.DataFrame
    features: list[str]
    channels: list[str]

    @property
    def lifts(self) -> pd.DataFrame:
        """Segments x features, index 100 = population average."""
        out = self.table[[f"index_{f}" for f in self.features]].copy()
        out.columns = self.features
        return out

    def names(self) -> dict[str, str]:
        return self.table["name"].to_dict()


def _check(df: DataFrame, segment_col: str, features: Sequence[str], cfg: ProfileConfig) -> None:
    if segment_col not in df.columns:
        raise ValueError(f"segment column {segment_col!r} is not in the table; it has {df.columns}")
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise ValueError(f"profile features {missing} are not in the table; it has {df.columns}")
    if not features:
        raise ValueError("profile features should name at least one column")
    if cfg.revenue_col is not None and cfg.revenue_col not in df.columns:
        raise ValueError(f"revenue_col={cfg.revenue_col!r} is not in the table")
    if cfg.low_index >= cfg.high_index:
        raise ValueError(f"low_index={cfg.low_index} should be < high_index={cfg.high_index}")
    if cfg.top_n < 1 or cfg.name_words < 1:
        raise ValueError(f"top_n={cfg.top_n} and name_words={cfg.name_words} should be >= 1")


def profile_segments(df: DataFrame, segment_col: str, cfg: ProfileConfig | None = None,
                     features: Sequence[str] | None = None) -> SegmentProfiles:
    """Profiles of every segment of ``segment_col`` against the whole table."""
    cfg = cfg or ProfileConfig()
    features = list(features if features is not None else cfg.features)
    _check(df, segment_col, features, cfg)
    channels = [c for c in df.columns if c.startswith(cfg.channel_prefix)] if cfg.channel_prefix else []
    revenue = F.col(cfg.revenue_col).cast("double") if cfg.revenue_col else F.lit(0.0)
    aggs = [F.count(F.lit(1)).alias("size"), F.sum("_rev").alias("revenue")]
    for i, f in enumerate(features):
        x = F.col(f).cast("double")
        aggs += [F.avg(x).alias(f"mean_{i}"), F.stddev_pop(x).alias(f"std_{i}"),
                 F.percentile_approx(x, 0.5, 10_000).alias(f"median_{i}")]
    aggs += [F.avg(F.col(c).cast("double")).alias(f"mix_{j}") for j, c in enumerate(channels)]
    staged = df.select(F.col(segment_col).cast("string").alias("_seg"),
                       *dict.fromkeys([*features, *channels]), revenue.alias("_rev"))
    # rollup: one pass gives every segment and (grouping_id 1) the whole population.
    rows = staged.rollup("_seg").agg(F.grouping_id().alias("_gid"), *aggs).collect()
    records = []
    for r in rows:
        rec = {"segment": _TOTAL if r["_gid"] == 1 else r["_seg"], "size": int(r["size"]),
               "revenue": float(r["revenue"] or 0.0)}
        for i, f in enumerate(features):
            rec[f"mean_{f}"] = _num(r[f"mean_{i}"])
            rec[f"std_{f}"] = _num(r[f"std_{i}"])
            rec[f"median_{f}"] = _num(r[f"median_{i}"])
        for j, c in enumerate(channels):
            rec[f"mix_{c[len(cfg.channel_prefix):]}"] = _num(r[f"mix_{j}"])
        records.append(rec)
    frame = pd.DataFrame(records).set_index("segment")
    population = frame.loc[[_TOTAL]]
    table = frame.drop(index=_TOTAL).sort_index()
    _lifts(table, population.iloc[0], features, cfg)
    log.info("profiles of %s: %d segments", segment_col, len(table))
    return SegmentProfiles(table=table, population=population, features=features,
                           channels=channels)


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _lifts(table: pd.DataFrame, pop: pd.Series, features: list[str], cfg: ProfileConfig) -> None:
    n, revenue = pop["size"], pop["revenue"]
    table["share"] = table["size"] / n
    table["revenue_share"] = table["revenue"] / revenue if revenue else np.nan
    for f in features:
        mean, std = pop[f"mean_{f}"], pop[f"std_{f}"]
        table[f"index_{f}"] = 100.0 * table[f"mean_{f}"] / mean if mean else np.nan
        table[f"z_{f}"] = (table[f"mean_{f}"] - mean) / std if std else 0.0
    z = table[[f"z_{f}" for f in features]].abs().to_numpy()
    order = np.argsort(-np.nan_to_num(z, nan=0.0), axis=1, kind="stable")
    table["top_features"] = [[features[j] for j in row[: cfg.top_n]] for row in order]
    names = [_name(table.loc[s], features, order[i], cfg) for i, s in enumerate(table.index)]
    table["name"] = _unique(names, list(table.index))
    for seg, name in cfg.names.items():
        if str(seg) in table.index:
            table.loc[str(seg), "name"] = name


def word(feature: str, direction: str, cfg: ProfileConfig) -> str:
    """The vocabulary word for a feature that is high or low in a segment."""
    words = cfg.vocabulary.get(feature, {})
    return words.get(direction) or f"{direction} {feature.replace('_', ' ')}"


def _direction(row: pd.Series, f: str, cfg: ProfileConfig) -> str | None:
    index = row[f"index_{f}"]
    if np.isfinite(index):
        if index >= cfg.high_index:
            return "high"
        if index <= cfg.low_index:
            return "low"
        return None
    # Population mean 0 (an index is undefined): half a standard deviation decides.
    z = row[f"z_{f}"]
    return "high" if z >= 0.5 else "low" if z <= -0.5 else None


def _name(row: pd.Series, features: list[str], order: np.ndarray, cfg: ProfileConfig) -> str:
    words = []
    for j in order:
        direction = _direction(row, features[j], cfg)
        if direction:
            words.append(word(features[j], direction, cfg))
        if len(words) == cfg.name_words:
            break
    return " ".join(words) or "average"


def _unique(names: list[str], segments: list) -> list[str]:
    counts = pd.Series(names).value_counts()
    return [f"{n} ({s})" if counts[n] > 1 else n for n, s in zip(names, segments, strict=True)]
