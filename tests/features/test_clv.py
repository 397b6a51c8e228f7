"""BG/NBD and Gamma-Gamma against the published CDNOW fits and hand-checked cases."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigseg.features.clv import (
    CUSTOMER_MEAN_SPEND,
    GAMMA_GAMMA,
    BGNBDParams,
    DegenerateFitWarning,
    GammaGammaParams,
    customer_lifetime_value,
    expected_purchases,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

# Fader, Hardie & Lee (2005), CDNOW sample (2,357 customers, 39-week calibration).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader & Hardie (2013), the same customers' mean repeat spend.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
PAPER_PARAMS = BGNBDParams(0.243, 4.414, 0.793, 2.426, 0.0, 0.0)


def _cdnow_sample() -> Path:
    dist = importlib.metadata.distribution("lifetimes")
    for file in dist.files or []:
        if str(file).endswith("datasets/CDNOW_sample.txt"):
            return Path(dist.locate_file(file))
    raise FileNotFoundError("CDNOW_sample.txt not found in the lifetimes distribution")


@pytest.fixture(scope="module")
def cdnow_calibration():
    """Per-customer (x, t_x, T, mean repeat spend) in weeks, calibration to 1997-09-30."""
    raw = pd.read_csv(_cdnow_sample(), sep=r"\s+", header=None,
                      names=["customer", "sample_id", "date", "cds", "amount"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp("1997-09-30")
    daily = (raw[raw["date"] <= end].groupby(["customer", "date"])["amount"].sum()
             .reset_index().sort_values(["customer", "date"]))
    daily["purchase"] = daily.groupby("customer").cumcount()
    per = daily.groupby("customer")["date"].agg(["min", "max", "count"])
    repeat = daily[daily["purchase"] > 0].groupby("customer")["amount"].mean()
    return pd.DataFrame({
        "x": (per["count"] - 1).astype(float),
        "t_x": (per["max"] - per["min"]).dt.days / 7,
        "T": (end - per["min"]).dt.days / 7,
        "m": repeat.reindex(per.index).fillna(0.0),
    })


def test_cdnow_has_the_papers_customers(cdnow_calibration):
    assert len(cdnow_calibration) == 2357
    assert (cdnow_calibration["x"] > 0).sum() == 946


def test_bgnbd_matches_the_published_cdnow_fit(cdnow_calibration):
    c = cdnow_calibration
    params = fit_bgnbd(c["x"], c["t_x"], c["T"])
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(params, name) == pytest.approx(published, rel=0.01), name
    assert params.n_customers == 2357
    # FHL report LL = -9582.4.
    assert params.log_likelihood == pytest.approx(-9582.4, abs=0.5)


def test_grouped_tuples_give_the_same_fit(cdnow_calibration):
    c = cdnow_calibration
    grouped = c.groupby(["x", "t_x", "T"]).size().reset_index(name="n")
    assert len(grouped) < len(c)
    full = fit_bgnbd(c["x"], c["t_x"], c["T"])
    fast = fit_bgnbd(grouped["x"], grouped["t_x"], grouped["T"], weights=grouped["n"])
    for name in PUBLISHED_BGNBD:
        assert getattr(fast, name) == pytest.approx(getattr(full, name), rel=1e-4)


def test_gamma_gamma_matches_the_published_cdnow_fit(cdnow_calibration):
    c = cdnow_calibration
    params = fit_gamma_gamma(c["x"], c["m"])
    for name, published in PUBLISHED_GG.items():
        assert getattr(params, name) == pytest.approx(published, rel=0.01), name
    assert params.n_customers == 946
    assert params.spend_model == GAMMA_GAMMA
    assert params.population_mean == pytest.approx(params.p * params.v / (params.q - 1))


def constant_spend_customers(n: int = 3000, seed: int = 0):
    """Customers whose every purchase costs the same: the Gamma-Gamma limit p -> inf.

    Spend levels differ across customers (inverse gamma, the limit model's mixing law).
    """
    rng = np.random.default_rng(seed)
    x = 1.0 + rng.poisson(3.0, n)
    m = 200.0 / rng.gamma(3.0, 1.0, n)
    return x, m


def test_constant_spend_is_a_degenerate_fit_scored_by_the_customers_mean():
    x, m = constant_spend_customers()
    with pytest.warns(DegenerateFitWarning, match="spend hardly varies within customers"):
        params = fit_gamma_gamma(x, m)
    assert params.spend_model == CUSTOMER_MEAN_SPEND
    assert params.population_mean == pytest.approx(m.mean())
    assert np.isfinite([params.p, params.q, params.v]).all()
    spend = expected_spend(params, [0, 1, 7], [0.0, 42.0, 13.5])
    assert spend.tolist() == [pytest.approx(m.mean()), 42.0, 13.5]
    clv = customer_lifetime_value(PAPER_PARAMS, params, [2.0], [30.43], [38.86], [42.0],
                                  horizon=52, step=52)
    expected = expected_purchases(PAPER_PARAMS, 52, 2.0, 30.43, 38.86) * 42.0
    assert clv[0] == pytest.approx(float(expected), rel=1e-12)


def test_varying_spend_is_not_degenerate():
    # The same customers with 30% noise per purchase: a proper Gamma-Gamma fit, p finite.
    x, m = constant_spend_customers()
    rng = np.random.default_rng(1)
    noisy = np.array([rng.gamma(11.0, mi / 11.0, int(xi)).mean()
                      for xi, mi in zip(x, m, strict=True)])
    params = fit_gamma_gamma(x, noisy)
    assert params.spend_model == GAMMA_GAMMA
    assert params.p == pytest.approx(11.0, rel=0.2)  # the per-purchase shape drawn
    assert params.q == pytest.approx(3.0, rel=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spend_model": "median"}, "spend_model='median' should be one of"),
        ({"spend_model": CUSTOMER_MEAN_SPEND}, "needs a population_mean"),
    ],
)
def test_gamma_gamma_params_reject_bad_spend_models(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GammaGammaParams(6.25, 3.74, 15.44, 0.0, 0.0, **kwargs)


def test_expected_purchases_matches_the_papers_worked_example():
    # FHL 2005, section 5: x=2, t_x=30.43, T=38.86 -> 1.226 purchases in the next 39 weeks.
    value = expected_purchases(PAPER_PARAMS, 39, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=0.001)


def test_probability_alive_cases():
    p = probability_alive(PAPER_PARAMS, [0, 2, 2], [0, 38.0, 5.0], [38.86, 38.86, 38.86])
    assert p[0] == 1.0  # no repeat purchase: BG/NBD cannot have seen a dropout
    assert p[1] > p[2]  # a recent last purchase means more likely alive
    # by hand: 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    by_hand = 1 / (1 + a / (b + 1) * ((alpha + 38.86) / (alpha + 5.0)) ** (r + 2))
    assert p[2] == pytest.approx(by_hand, rel=1e-12)


def test_expected_spend_shrinks_towards_the_population_mean():
    gg = GammaGammaParams(6.25, 3.74, 15.44, 0.0, 0.0)
    population = 6.25 * 15.44 / (3.74 - 1)
    spend = expected_spend(gg, [0, 1, 50], [0.0, 100.0, 100.0])
    assert spend[0] == pytest.approx(population)
    assert population < spend[1] < spend[2] < 100.0


def test_clv_is_spend_times_purchases_without_discount():
    gg = GammaGammaParams(6.25, 3.74, 15.44, 0.0, 0.0)
    args = ([2.0], [30.43], [38.86], [22.35])
    clv = customer_lifetime_value(PAPER_PARAMS, gg, *args, horizon=52, step=4.3)
    expected = expected_purchases(PAPER_PARAMS, 52, *args[:3]) * expected_spend(gg, [2.0], [22.35])
    assert clv == pytest.approx(expected, rel=1e-9)
    discounted = customer_lifetime_value(PAPER_PARAMS, gg, *args, horizon=52, step=4.3,
                                         discount_rate=0.01)
    assert 0 < discounted[0] < clv[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frequency": [-1], "recency": [0], "T": [1]}, "frequency should be >= 0"),
        ({"frequency": [1.5], "recency": [1], "T": [2]}, "frequency should be a whole number"),
        ({"frequency": [1], "recency": [3], "T": [2]}, "recency should be <= T"),
        ({"frequency": [0], "recency": [1], "T": [2]}, "recency should be 0 when frequency"),
        ({"frequency": [1], "recency": [np.nan], "T": [2]}, "recency has 1 non-finite"),
        ({"frequency": [1, 2], "recency": [1], "T": [2]}, "one length"),
        ({"frequency": [0, 0], "recency": [0, 0], "T": [2, 3]}, "no customer has a repeat"),
    ],
)
def test_bgnbd_rejects_bad_summaries(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(**kwargs)


def test_gamma_gamma_rejects_non_positive_spend():
    with pytest.raises(ValueError, match="monetary should be > 0"):
        fit_gamma_gamma([1, 2], [10.0, 0.0])
