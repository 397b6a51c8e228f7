"""CLV on Spark: per-customer BG/NBD summaries, a driver-side fit, executor-side scoring.

The per-customer summary comes from the transaction aggregates
(bigseg.features.behaviour): purchase days, first and last purchase day, the first
purchase day's amount and the total. From them, with the conventions of
bigseg.features.clv (time in weeks = days / 7):

- x = purchase days - 1; t_x = last - first purchase day;
- T = (as_of - 1 day) - first purchase day (the last day whose rows count);
- m = mean amount of the repeat purchase days = (total - first day's amount) / x.

Fitting on the driver, in a size that does not grow with the number of customers:

- BG/NBD: customers are grouped by their exact (x, t_x, T) in whole days. There are at
  most (days of history)^2 / 2 x (distinct x) such tuples, whatever the number of
  customers; the weighted likelihood over the tuples equals the per-customer one. (A
  measured case: 200k synthetic customers over two years gave 133k tuples; set
  ``clv_time_step_days`` to 7 to fit on weekly bins of times when that is too many.)
- Gamma-Gamma: m is continuous, so customers are grouped by (x, m rounded on a log scale
  to ``clv_spend_precision``, 0.1% by default) and each group enters the likelihood with
  its mean m and its count. The rounding moves each m by at most half the precision, far
  below the sampling error of the fitted (p, q, v); the bins are bounded by
  log(max m / min m) / precision x (distinct x).

Scoring runs in the executors as a vectorised pandas UDF (Arrow batches, numpy inside):
the driver builds the function with the fitted parameters captured in its closure.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.config import FeaturesConfig
from bigseg.features.clv import (
    BGNBDParams,
    ConvergenceError,
    GammaGammaParams,
    customer_lifetime_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

log = logging.getLogger(__name__)

WEEK_DAYS = 7.0
# Summary columns added by summary_columns().
X, T_X_DAYS, T_DAYS, M = "clv_x", "clv_t_x_days", "clv_T_days", "clv_m"
SCORE_SCHEMA = "p_alive double, expected_purchases double, value double"


@dataclass(frozen=True)
class CLVModel:
    """Fitted BG/NBD and (when it could be fitted) Gamma-Gamma parameters."""

    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams | None
    n_bgnbd_tuples: int
    n_gamma_gamma_bins: int

    @property
    def spend_model(self) -> str:
        """How CLV spend is scored: gamma_gamma, customer_mean_spend (a degenerate fit's
        fallback, see bigseg.features.clv.fit_gamma_gamma) or none (no clv_value)."""
        return self.gamma_gamma.spend_model if self.gamma_gamma is not None else "none"

    def to_dict(self) -> dict:
        return {
            # Recorded for the reader of the metadata; from_dict derives it again.
            "spend_model": self.spend_model,
            "bgnbd": self.bgnbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "n_bgnbd_tuples": self.n_bgnbd_tuples,
            "n_gamma_gamma_bins": self.n_gamma_gamma_bins,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CLVModel:
        gg = data.get("gamma_gamma")
        return cls(
            BGNBDParams(**data["bgnbd"]),
            GammaGammaParams(**gg) if gg else None,
            int(data["n_bgnbd_tuples"]),
            int(data["n_gamma_gamma_bins"]),
        )


def summary_columns(as_of_day: int) -> list[Column]:
    """(x, t_x, T) in days and m, from the ``tx_*`` aggregates; null without purchases."""
    days = F.col("tx_days")
    has = days > 0
    x = (days - 1).cast("double")
    return [
        F.when(has, x).alias(X),
        F.when(has, F.col("tx_last_day") - F.col("tx_first_buy_day")).cast("double").alias(T_X_DAYS),
        F.when(has, F.lit(as_of_day - 1) - F.col("tx_first_buy_day")).cast("double").alias(T_DAYS),
        F.when(has & (x > 0), F.try_divide(F.col("tx_revenue") - F.col("tx_first_buy_amount"), x))
        .otherwise(F.when(has, F.lit(0.0)))
        .alias(M),
    ]


def fit_bgnbd_spark(summary: DataFrame, time_step_days: int = 1) -> tuple[BGNBDParams, int]:
    """BG/NBD on the distinct (x, t_x, T) tuples with their counts.

    ``time_step_days`` > 1 groups customers by t_x and T in bins of that many days (for
    the fit only; scoring uses exact values), each group entering with its mean t_x and
    mean T: it bounds the tuples by (history / step)^2 x distinct x where a long history
    makes exact days too many. Means keep t_x <= T (and t_x = 0 where x = 0).
    """
    step = float(time_step_days)
    tuples = (
        summary.where(F.col(X).isNotNull())
        .groupBy(
            F.col(X),
            F.floor(F.col(T_X_DAYS) / step).alias("_tx_bin"),
            F.floor(F.col(T_DAYS) / step).alias("_t_bin"),
        )
        .agg(F.count(F.lit(1)).alias("count"), F.avg(T_X_DAYS).alias(T_X_DAYS),
             F.avg(T_DAYS).alias(T_DAYS))
        .toPandas()
    )
    if tuples.empty:
        raise ValueError("no customer has a purchase before as_of: BG/NBD cannot be fitted")
    # The optimiser's line search may probe overflowing parameters: expected, not news.
    with np.errstate(all="ignore"):
        params = fit_bgnbd(
            tuples[X].to_numpy(),
            tuples[T_X_DAYS].to_numpy() / WEEK_DAYS,
            tuples[T_DAYS].to_numpy() / WEEK_DAYS,
            weights=tuples["count"].to_numpy(dtype=np.float64),
        )
    return params, len(tuples)


def fit_gamma_gamma_spark(summary: DataFrame, precision: float) -> tuple[GammaGammaParams, int]:
    """Gamma-Gamma on (x, m binned on a log scale) groups: count and mean m per group.

    Customers with repeat purchases whose repeat days total <= 0 carry no usable spend
    (log m is undefined): they fall in the null bin, are counted and left out.
    """
    step = math.log1p(precision)
    m = F.col(M)
    bins = (
        summary.where(F.col(X) > 0)
        .groupBy(X, F.when(m > 0, F.round(F.log(m) / F.lit(step))).alias("_bin"))
        .agg(F.count(F.lit(1)).alias("count"), F.avg(m).alias(M))
        .toPandas()
    )
    unusable = bins["_bin"].isna()
    if unusable.any():
        log.warning("Gamma-Gamma: %d customers with repeat purchases of total amount <= 0 "
                    "are left out of the spend fit", int(bins.loc[unusable, "count"].sum()))
    bins = bins[~unusable]
    with np.errstate(all="ignore"):
        params = fit_gamma_gamma(
            bins[X].to_numpy(), bins[M].to_numpy(), weights=bins["count"].to_numpy(np.float64)
        )
    return params, len(bins)


def fit(summary: DataFrame, cfg: FeaturesConfig) -> CLVModel:
    """Fit BG/NBD and Gamma-Gamma from the summary columns (see :func:`summary_columns`).

    A degenerate Gamma-Gamma fit (e.g. spend hardly varies within customers) warns and
    scores spend as each customer's mean repeat spend (``spend_model``
    ``customer_mean_spend``). Only when no customer has usable repeat spend is
    ``gamma_gamma`` None, with a warning: P(alive) and expected purchases are still
    scored, the CLV value is not. A BG/NBD failure raises (ValueError or
    ConvergenceError).
    """
    bgnbd, n_tuples = fit_bgnbd_spark(summary, cfg.clv_time_step_days)
    try:
        gamma_gamma, n_bins = fit_gamma_gamma_spark(summary, cfg.clv_spend_precision)
    except (ValueError, ConvergenceError) as exc:
        log.warning("Gamma-Gamma spend model not fitted, clv_value left out: %s", exc)
        gamma_gamma, n_bins = None, 0
    log.info("CLV fitted on %d (x, t_x, T) tuples and %d (x, m) bins; spend model %s",
             n_tuples, n_bins, gamma_gamma.spend_model if gamma_gamma else "none")
    return CLVModel(bgnbd, gamma_gamma, n_tuples, n_bins)


def try_fit(summary: DataFrame, cfg: FeaturesConfig) -> CLVModel | None:
    """:func:`fit`, or None with a warning when the data cannot support a BG/NBD model."""
    try:
        return fit(summary, cfg)
    except (ValueError, ConvergenceError) as exc:
        log.warning("CLV features left out: %s", exc)
        return None


def scorer(model: CLVModel, cfg: FeaturesConfig):
    """Build, on the driver, the pandas UDF the executors run to score customers.

    The returned UDF takes the four summary columns and returns a struct of
    P(alive), expected purchases and CLV over ``cfg.clv_horizon_days``; null for
    customers without a purchase (``value`` null throughout without a Gamma-Gamma
    model). Only numpy/scipy run inside it, batch by batch.
    """
    bgnbd, gamma_gamma = model.bgnbd, model.gamma_gamma
    horizon = cfg.clv_horizon_days / WEEK_DAYS
    step = cfg.clv_step_days / WEEK_DAYS
    rate = cfg.clv_discount_rate

    @F.pandas_udf(SCORE_SCHEMA)
    def score(x: pd.Series, t_x: pd.Series, big_t: pd.Series, m: pd.Series) -> pd.DataFrame:
        out = pd.DataFrame(
            np.nan, index=x.index, columns=["p_alive", "expected_purchases", "value"]
        )
        ok = x.notna().to_numpy()
        if ok.any():
            xs = x.to_numpy(np.float64)[ok]
            tx = t_x.to_numpy(np.float64)[ok] / WEEK_DAYS
            tt = big_t.to_numpy(np.float64)[ok] / WEEK_DAYS
            ms = m.to_numpy(np.float64)[ok]
            out.loc[ok, "p_alive"] = probability_alive(bgnbd, xs, tx, tt)
            out.loc[ok, "expected_purchases"] = expected_purchases(bgnbd, horizon, xs, tx, tt)
            if gamma_gamma is not None:
                out.loc[ok, "value"] = customer_lifetime_value(
                    bgnbd, gamma_gamma, xs, tx, tt, ms, horizon=horizon, step=step,
                    discount_rate=rate,
                )
        return out

    return score


def score_column(model: CLVModel, cfg: FeaturesConfig) -> Column:
    """The struct column of scores over the summary columns (see :func:`scorer`)."""
    return scorer(model, cfg)(F.col(X), F.col(T_X_DAYS), F.col(T_DAYS), F.col(M))
