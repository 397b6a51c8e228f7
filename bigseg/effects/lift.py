"""Campaign effects per segment: response of treated against control, lift, revenue, ROI.

``evaluate_effects(outcomes, segments, cfg)`` joins the campaign outcomes (contract
``campaign_outcomes``) with a segment assignment and returns an :class:`EffectReport`:
one row per campaign x segment, plus one ``ALL`` row per campaign over every outcome.

What reaches the driver is small whatever the number of customers: one aggregation per
(segment, campaign, arm) for the counts, and the Poisson bootstrap's sums per (segment,
campaign, arm, replicate) (bigseg.effects.bootstrap).

Per row: response rates with Wilson intervals; the absolute lift (treated minus control)
with Newcombe's interval, which decides significance; the relative lift and the revenue
per customer difference with bootstrap percentile intervals; incremental conversions and
revenue over the treated customers; cost = cost_per_contact x treated customers; ROI =
(incremental revenue - cost) / cost. A row with fewer than ``min_per_arm`` customers in
either arm is reported as ``insufficient``: its figures are shown, but no conclusion.
No correction for testing many segments is applied: at alpha = 0.05 about one row in
twenty with no true effect is flagged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bigseg.config import EffectsConfig
from bigseg.effects.bootstrap import bootstrap_sums, percentile_interval
from bigseg.effects.intervals import newcombe_interval, wilson_interval

log = logging.getLogger(__name__)

ALL = "ALL"
# Outcomes of customers the segment table does not know: counted in the ALL rows only.
UNSEGMENTED = "__unsegmented__"
OUTCOME_COLUMNS = ("customer_id", "campaign_id", "treated", "converted", "revenue")
INSUFFICIENT, POSITIVE, NEGATIVE, NOT_SIGNIFICANT = (
    "insufficient", "positive", "negative", "not significant",
)


def check_config(cfg: EffectsConfig) -> None:
    """Validate the effect settings; messages give the value and the rule."""
    rules = [
        (0.0 < cfg.alpha < 1.0, f"alpha={cfg.alpha} should be within (0, 1)"),
        (cfg.min_per_arm >= 1, f"min_per_arm={cfg.min_per_arm} should be >= 1"),
        (cfg.cost_per_contact >= 0, f"cost_per_contact={cfg.cost_per_contact} should be >= 0"),
        (cfg.bootstrap_replicates >= 10,
         f"bootstrap_replicates={cfg.bootstrap_replicates} should be >= 10"),
    ]
    for ok, message in rules:
        if not ok:
            raise ValueError(message)


@dataclass
class EffectReport:
    """The effect table (one row per campaign x segment, ``ALL`` rows included)."""

    table: pd.DataFrame
    alpha: float
    # Outcome rows whose customer has no segment (they count in the ALL rows only).
    n_unsegmented: int = 0

    @property
    def segments(self) -> pd.DataFrame:
        return self.table[self.table["segment"] != ALL]

    @property
    def overall(self) -> pd.DataFrame:
        return self.table[self.table["segment"] == ALL]

    def row(self, campaign: str, segment: Any) -> pd.Series:
        hit = self.table[(self.table["campaign_id"] == campaign)
                         & (self.table["segment"] == str(segment))]
        if hit.empty:
            raise KeyError(f"no row for campaign {campaign!r} and segment {segment!r}")
        return hit.iloc[0]

    def metrics(self) -> dict[str, float]:
        """Flat metrics ``<campaign>.<segment>.<figure>`` (finite values only)."""
        out: dict[str, float] = {}
        figures = ("lift_abs", "lift_lo", "lift_hi", "lift_rel", "rev_lift",
                   "incremental_revenue", "roi")
        for r in self.table.itertuples(index=False):
            prefix = f"{r.campaign_id}.{r.segment}"
            for f in figures:
                value = float(getattr(r, f))
                if np.isfinite(value):
                    out[f"{prefix}.{f}"] = value
            out[f"{prefix}.significant"] = float(bool(r.significant))
            out[f"{prefix}.insufficient"] = float(r.status == INSUFFICIENT)
        seg = self.segments
        out["segments_significant"] = float(seg["significant"].sum())
        out["segments_insufficient"] = float((seg["status"] == INSUFFICIENT).sum())
        out["unsegmented_outcomes"] = float(self.n_unsegmented)
        return out

    def save(self, folder: str | Path) -> dict[str, Path]:
        """The table (CSV), the plot (PNG) and a JSON summary under ``folder``."""
        from bigseg.effects.plots import plot_lifts

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"table": folder / "effects.csv", "plot": folder / "effects.png",
                 "summary": folder / "effects.json"}
        self.table.to_csv(files["table"], index=False)
        plot_lifts(self.table, files["plot"], alpha=self.alpha)
        summary = {"alpha": self.alpha, "n_unsegmented": self.n_unsegmented,
                   "rows": json.loads(self.table.to_json(orient="records"))}
        files["summary"].write_text(json.dumps(summary, indent=2))
        return files


def evaluate_effects(
    outcomes: DataFrame, segments: DataFrame, cfg: EffectsConfig | None = None
) -> EffectReport:
    """Effects of every campaign per segment of ``segments`` (customer_id, segment column
    ``cfg.segment_col`` and optionally ``cfg.name_col``, one row per customer)."""
    cfg = cfg or EffectsConfig()
    check_config(cfg)
    missing = [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise ValueError(f"the outcomes table lacks columns {missing}; it has {outcomes.columns}")
    for col in ("customer_id", cfg.segment_col):
        if col not in segments.columns:
            raise ValueError(f"the segments table lacks column {col!r}; it has {segments.columns}")
    named = cfg.name_col is not None and cfg.name_col in segments.columns
    if cfg.name_col is not None and not named:
        log.info("segments table has no %r column: segment ids are their names", cfg.name_col)
    seg = segments.select(
        "customer_id",
        F.col(cfg.segment_col).cast("string").alias("_segment"),
        (F.col(cfg.name_col) if named else F.col(cfg.segment_col)).cast("string").alias("_name"),
    )
    df = outcomes.select(
        "customer_id", F.col("campaign_id").cast("string").alias("campaign_id"),
        F.col("treated").cast("boolean").alias("treated"),
        F.coalesce(F.col("converted").cast("double"), F.lit(0.0)).alias("conv"),
        F.coalesce(F.col("revenue").cast("double"), F.lit(0.0)).alias("rev"),
    ).where(F.col("treated").isNotNull())
    if cfg.campaigns:
        df = df.where(F.col("campaign_id").isin(list(cfg.campaigns)))
    df = df.join(seg, "customer_id", "left").withColumns({
        "_segment": F.coalesce(F.col("_segment"), F.lit(UNSEGMENTED)),
        "_name": F.coalesce(F.col("_name"), F.lit(UNSEGMENTED)),
    })
    groups = ["_segment", "campaign_id", "treated"]
    counts = (df.groupBy(*groups, "_name")
              .agg(F.count(F.lit(1)).cast("double").alias("n"), F.sum("conv").alias("conv"),
                   F.sum("rev").alias("rev"))
              .toPandas())
    if counts.empty:
        raise ValueError("no campaign outcomes to evaluate"
                         + (f" for campaigns {list(cfg.campaigns)}" if cfg.campaigns else ""))
    boot = bootstrap_sums(df, groups, {"conv": F.col("conv"), "rev": F.col("rev")},
                          keys=["customer_id", "campaign_id"],
                          replicates=cfg.bootstrap_replicates, seed=cfg.bootstrap_seed)
    table = _effect_table(counts, boot, cfg)
    n_unsegmented = int(counts.loc[counts["_segment"] == UNSEGMENTED, "n"].sum())
    if n_unsegmented:
        log.warning("%d outcome rows belong to customers without a segment: they count in "
                    "the ALL rows only", n_unsegmented)
    report = EffectReport(table=table, alpha=cfg.alpha, n_unsegmented=n_unsegmented)
    seg_rows = report.segments
    log.info("effects: %d campaign x segment rows, %d significant, %d insufficient",
             len(seg_rows), int(seg_rows["significant"].sum()),
             int((seg_rows["status"] == INSUFFICIENT).sum()))
    return report


def _effect_table(counts: pd.DataFrame, boot: pd.DataFrame, cfg: EffectsConfig) -> pd.DataFrame:
    """One row per campaign x segment (and ALL), from the per-arm counts and replicates."""
    names = counts.groupby("_segment")["_name"].first().to_dict()
    # Sums per (segment, campaign) with the arms side by side; ALL = every segment summed.
    stats = counts.groupby(["_segment", "campaign_id", "treated"])[["n", "conv", "rev"]].sum()
    total = counts.groupby(["campaign_id", "treated"])[["n", "conv", "rev"]].sum()
    total = pd.concat({ALL: total}, names=["_segment"])
    stats = pd.concat([stats.drop(index=UNSEGMENTED, level=0, errors="ignore"), total])
    bstats = boot.groupby(["_segment", "campaign_id", "treated", "replicate"])[
        ["n", "conv", "rev"]].sum()
    btotal = boot.groupby(["campaign_id", "treated", "replicate"])[["n", "conv", "rev"]].sum()
    btotal = pd.concat({ALL: btotal}, names=["_segment"])
    bstats = pd.concat([bstats.drop(index=UNSEGMENTED, level=0, errors="ignore"),
                        btotal]).sort_index()

    rows = []
    for segment, campaign in sorted({(s, c) for s, c, _ in stats.index},
                                    key=lambda sc: (sc[1], sc[0] == ALL, sc[0])):
        arm = {t: _arm(stats, (segment, campaign, t)) for t in (True, False)}
        rep = {t: _replicates(bstats, (segment, campaign, t)) for t in (True, False)}
        rows.append(_row(segment, names.get(segment, ALL), campaign, arm, rep, cfg))
    return pd.DataFrame(rows)


def _arm(stats: pd.DataFrame, key: tuple) -> dict[str, float]:
    if key in stats.index:
        r = stats.loc[key]
        return {"n": float(r["n"]), "conv": float(r["conv"]), "rev": float(r["rev"])}
    return {"n": 0.0, "conv": 0.0, "rev": 0.0}


def _replicates(bstats: pd.DataFrame, key: tuple) -> pd.DataFrame | None:
    segment, campaign, treated = key
    try:
        return bstats.loc[(segment, campaign, treated)]
    except KeyError:
        return None


def _row(segment: str, name: str, campaign: str, arm: dict, rep: dict,
         cfg: EffectsConfig) -> dict[str, Any]:
    t, c = arm[True], arm[False]
    alpha = cfg.alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_t = t["conv"] / t["n"] if t["n"] else np.nan
        rate_c = c["conv"] / c["n"] if c["n"] else np.nan
        rev_t = t["rev"] / t["n"] if t["n"] else np.nan
        rev_c = c["rev"] / c["n"] if c["n"] else np.nan
    (t_lo,), (t_hi,) = wilson_interval([t["conv"]], [t["n"]], alpha)
    (c_lo,), (c_hi,) = wilson_interval([c["conv"]], [c["n"]], alpha)
    (d_lo,), (d_hi,) = newcombe_interval([t["conv"]], [t["n"]], [c["conv"]], [c["n"]], alpha)
    lift = rate_t - rate_c
    rel = lift / rate_c if rate_c > 0 else np.nan
    rel_lo = rel_hi = rev_lo = rev_hi = np.nan
    if rep[True] is not None and rep[False] is not None:
        bt, bc = rep[True].align(rep[False], join="inner", axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rt, rc = bt["conv"] / bt["n"], bc["conv"] / bc["n"]
            rel_lo, rel_hi = percentile_interval(rt / rc - 1.0, alpha)
            rev_lo, rev_hi = percentile_interval(bt["rev"] / bt["n"] - bc["rev"] / bc["n"], alpha)
    insufficient = min(t["n"], c["n"]) < cfg.min_per_arm
    significant = bool(not insufficient and (d_lo > 0 or d_hi < 0))
    status = (INSUFFICIENT if insufficient else
              (POSITIVE if d_lo > 0 else NEGATIVE) if significant else NOT_SIGNIFICANT)
    rev_lift = rev_t - rev_c
    incremental_revenue = rev_lift * t["n"]
    cost = cfg.cost_per_contact * t["n"]
    roi = (incremental_revenue - cost) / cost if cost > 0 else np.nan
    return {
        "campaign_id": campaign, "segment": segment, "segment_name": name,
        "n_treated": int(t["n"]), "n_control": int(c["n"]),
        "conv_treated": int(t["conv"]), "conv_control": int(c["conv"]),
        "rate_treated": rate_t, "rate_treated_lo": t_lo, "rate_treated_hi": t_hi,
        "rate_control": rate_c, "rate_control_lo": c_lo, "rate_control_hi": c_hi,
        "lift_abs": lift, "lift_lo": d_lo, "lift_hi": d_hi,
        "lift_rel": rel, "lift_rel_lo": rel_lo, "lift_rel_hi": rel_hi,
        "rev_per_treated": rev_t, "rev_per_control": rev_c,
        "rev_lift": rev_lift, "rev_lift_lo": rev_lo, "rev_lift_hi": rev_hi,
        "incremental_conversions": lift * t["n"], "incremental_revenue": incremental_revenue,
        "cost": cost, "roi": roi, "significant": significant, "status": status,
    }
