"""Customer lifetime value: BG/NBD for purchase counts and Gamma-Gamma for spend.

Pure numpy/scipy; the Spark side (bigseg.features.clv_spark) reduces customers to
distinct (frequency, recency, T) tuples with counts, so the maximum-likelihood fit runs on
the driver in a size that does not grow with the number of customers, then scores every
customer in the executors with these same functions.

Conventions (as in Fader, Hardie & Lee 2005 and the `lifetimes` package):
- at most one purchase per customer per day (repeat purchases on one day are merged);
- ``frequency`` x = number of repeat purchases (purchase days minus one);
- ``recency`` t_x = time from the first to the last purchase;
- ``T`` = time from the first purchase to the end of the observation period;
- time in a unit of choice (weeks in the paper); ``monetary`` = mean value of the repeat
  purchases (the first purchase is excluded, as in Fader & Hardie's Gamma-Gamma note).

References: Fader, Hardie & Lee (2005) "Counting your customers the easy way: an
alternative to the Pareto/NBD model", Marketing Science 24(2); Fader & Hardie (2013) "The
Gamma-Gamma model of monetary value".
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

log = logging.getLogger(__name__)


class ConvergenceError(RuntimeError):
    """The likelihood optimiser did not converge."""


class DegenerateFitWarning(UserWarning):
    """A legal fit at the edge of the model (e.g. Gamma-Gamma p -> inf); a fallback is used."""


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# How expected spend is scored (GammaGammaParams.spend_model).
GAMMA_GAMMA = "gamma_gamma"
# The fit is degenerate (see fit_gamma_gamma): a customer's expected spend is their own
# mean repeat spend, the population mean for customers without repeat purchases.
CUSTOMER_MEAN_SPEND = "customer_mean_spend"
SPEND_MODELS = (GAMMA_GAMMA, CUSTOMER_MEAN_SPEND)
# Upper bound of the Gamma-Gamma shape p: p = 1e4 means spend varies by 1% (1/sqrt(p))
# around a customer's mean, already indistinguishable from constant spend. A fit that
# ends at the bound is the degenerate limit p -> inf.
GG_MAX_P = 1e4


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters (p, q, v) and how spend is scored from them.

    ``spend_model`` is ``gamma_gamma`` (the fitted model) or ``customer_mean_spend`` (the
    fit was degenerate: each customer's own mean spend, ``population_mean`` for customers
    without repeat purchases). ``population_mean`` is the mean spend per purchase of a
    new customer: p v / (q - 1) for the model, the weighted mean repeat spend otherwise.
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: float
    spend_model: str = GAMMA_GAMMA
    population_mean: float | None = None

    def __post_init__(self) -> None:
        if self.spend_model not in SPEND_MODELS:
            raise ValueError(
                f"spend_model={self.spend_model!r} should be one of {list(SPEND_MODELS)}"
            )
        if self.spend_model == CUSTOMER_MEAN_SPEND and self.population_mean is None:
            raise ValueError("spend_model='customer_mean_spend' needs a population_mean")

    def to_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


def _as_float(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} should be 1-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = np.flatnonzero(~np.isfinite(array))
        raise ValueError(f"{name} has {bad.size} non-finite values (first at index {bad[0]})")
    return array


def _check_summary(frequency, recency, T, weights):
    x = _as_float("frequency", frequency)
    t_x = _as_float("recency", recency)
    big_t = _as_float("T", T)
    w = np.ones_like(x) if weights is None else _as_float("weights", weights)
    if not (x.shape == t_x.shape == big_t.shape == w.shape):
        raise ValueError(
            f"frequency, recency, T and weights should have one length, got "
            f"{x.shape[0]}, {t_x.shape[0]}, {big_t.shape[0]}, {w.shape[0]}"
        )
    rules = [
        (x < 0, "frequency should be >= 0"),
        (x != np.floor(x), "frequency should be a whole number"),
        (t_x < 0, "recency should be >= 0"),
        (t_x > big_t + 1e-9, "recency should be <= T"),
        ((x == 0) & (t_x != 0), "recency should be 0 when frequency is 0"),
        (w < 0, "weights should be >= 0"),
    ]
    for bad, rule in rules:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{rule}: {int(bad.sum())} customers break it, first at index {i} "
                f"(frequency={x[i]}, recency={t_x[i]}, T={big_t[i]}, weight={w[i]})"
            )
    if w.sum() <= 0:
        raise ValueError("weights sum to 0: there is no customer to fit")
    return x, t_x, big_t, w


def bgnbd_log_likelihood(params, x, t_x, big_t) -> np.ndarray:
    """Per-customer log-likelihood of the BG/NBD model (FHL 2005, eq. 6)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    with np.errstate(divide="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def _minimise(nll, n_params: int, what: str) -> np.ndarray:
    # Parameters are optimised on the log scale: they must stay positive.
    result = minimize(nll, np.zeros(n_params), method="L-BFGS-B",
                      options={"maxiter": 2000, "gtol": 1e-8})
    if not result.success and not np.isfinite(result.fun):
        raise ConvergenceError(f"{what} fit did not converge: {result.message}")
    if not result.success:
        log.warning("%s fit stopped early (%s); using the best parameters found",
                    what, result.message)
    return np.exp(result.x)


def _minimise_from(nll, starts: list[np.ndarray], bounds: list[tuple[float, float]]):
    """The best finite L-BFGS-B result over several starts within bounds (None if none)."""
    best = None
    for start in starts:
        # A tight ftol: on a flat ridge the default stops long before the best point.
        result = minimize(nll, start, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 2000, "gtol": 1e-8, "ftol": 1e-13})
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    return best


def fit_bgnbd(frequency, recency, T, weights=None) -> BGNBDParams:
    """Maximum-likelihood BG/NBD fit.

    ``weights`` counts customers per row, so callers may pass distinct
    (frequency, recency, T) tuples with their multiplicity instead of every customer.
    """
    x, t_x, big_t, w = _check_summary(frequency, recency, T, weights)
    if not (x > 0).any():
        raise ValueError("no customer has a repeat purchase: BG/NBD cannot be fitted")
    total = w.sum()

    def nll(log_params):
        # Mean, not sum, keeps the gradient scale independent of the number of customers.
        return -(w * bgnbd_log_likelihood(np.exp(log_params), x, t_x, big_t)).sum() / total

    r, alpha, a, b = _minimise(nll, 4, "BG/NBD")
    ll = float((w * bgnbd_log_likelihood((r, alpha, a, b), x, t_x, big_t)).sum())
    params = BGNBDParams(float(r), float(alpha), float(a), float(b), ll, float(total))
    log.info("BG/NBD fit on %.0f customers: r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f",
             total, r, alpha, a, b, ll)
    return params


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    """Per-customer log-likelihood of the Gamma-Gamma spend model (x > 0 only)."""
    p, q, v = params
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
    )


def fit_gamma_gamma(frequency, monetary, weights=None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on customers with repeat purchases.

    Customers with frequency 0 carry no spend information and are ignored; monetary
    values must be > 0 for the others. A degenerate but legal fit (p not distinguishable
    from its bound ``GG_MAX_P`` by a likelihood-ratio test: spend nearly constant within
    customers; q <= 1: no finite population mean; no finite likelihood from any start) warns with DegenerateFitWarning and returns
    ``spend_model="customer_mean_spend"``, which still scores spend (see expected_spend).
    """
    x = _as_float("frequency", frequency)
    m = _as_float("monetary", monetary)
    w = np.ones_like(x) if weights is None else _as_float("weights", weights)
    if not (x.shape == m.shape == w.shape):
        raise ValueError(
            f"frequency, monetary and weights should have one length, got "
            f"{x.shape[0]}, {m.shape[0]}, {w.shape[0]}"
        )
    keep = x > 0
    if (m[keep] <= 0).any():
        i = int(np.flatnonzero(keep & (m <= 0))[0])
        raise ValueError(
            f"monetary should be > 0 for customers with repeat purchases; index {i} has "
            f"frequency={x[i]}, monetary={m[i]}"
        )
    x, m, w = x[keep], m[keep], w[keep]
    if w.sum() <= 0:
        raise ValueError("no customer has a repeat purchase: Gamma-Gamma cannot be fitted")
    total = w.sum()
    mean_spend = float((w * m).sum() / total)

    # Optimised over (log p, log q, log s) with s = p v, the scale of spend. When spend
    # hardly varies within customers (relative to across them) the likelihood keeps
    # rising along p -> inf at a fixed p v: a ridge that is axis-aligned in these
    # coordinates, where (p, q, v) sent L-BFGS into overflow. Bounds keep every start
    # finite; several starts (a unit start and moment-style ones at the data's spend
    # scale, one at the p bound) guard against stopping on the ridge far from the best
    # point.
    def nll(theta):
        p, q, s = np.exp(theta)
        return -(w * gamma_gamma_log_likelihood((p, q, s / p), x, m)).sum() / total

    log_m = math.log(mean_spend)
    bounds = [(math.log(1e-4), math.log(GG_MAX_P)), (math.log(1e-4), math.log(1e4)),
              (log_m - math.log(1e6), log_m + math.log(1e6))]
    starts = [np.zeros(3)] + [
        np.array([math.log(p0), math.log(q0), log_m + math.log(q0 - 1)])
        for p0, q0 in ((1.0, 3.0), (5.0, 3.0), (50.0, 2.0), (500.0, 5.0))
    ]
    starts = [np.clip(s0, [b[0] for b in bounds], [b[1] for b in bounds]) for s0 in starts]
    # The constant-spend limit: p held at its bound, q and s fitted.
    at_bound = [(bounds[0][1], bounds[0][1])] + bounds[1:]
    with np.errstate(all="ignore"):
        result = _minimise_from(nll, starts, bounds)
        limit = _minimise_from(nll, [np.array([bounds[0][1], math.log(2.0), log_m])], at_bound)
    if result is not None and limit is not None and limit.fun < result.fun:
        result = limit
    if result is None:
        warnings.warn(
            f"Gamma-Gamma likelihood is not finite from any start ({total:.0f} customers); "
            "spend is scored as each customer's mean repeat spend",
            DegenerateFitWarning, stacklevel=2)
        return GammaGammaParams(math.nan, math.nan, math.nan, math.nan, float(total),
                                CUSTOMER_MEAN_SPEND, mean_spend)
    p, q, s = np.exp(result.x)
    v = s / p
    ll = float((w * gamma_gamma_log_likelihood((p, q, v), x, m)).sum())
    log.info("Gamma-Gamma fit on %.0f customers: p=%.4f q=%.4f v=%.6g (%s)", total, p, q, v,
             result.message)
    reason = None
    # Half the 95% chi-square(1) quantile: the constant-spend limit is not rejected by a
    # likelihood-ratio test against the best fit, so p cannot be told from infinity.
    if limit is not None and total * (limit.fun - result.fun) < 1.92:
        reason = (f"p={p:.4g} is not distinguishable from p -> inf (likelihood ratio test): "
                  "spend hardly varies within customers compared with across them")
    elif q <= 1:
        reason = f"q={q:.3f} <= 1: the population mean spend p v / (q - 1) is undefined"
    if reason is not None:
        warnings.warn(
            f"Gamma-Gamma fit on {total:.0f} customers is degenerate ({reason}); spend is "
            "scored as each customer's mean repeat spend (the p -> inf limit of the model), "
            f"and {mean_spend:.4g} (the mean repeat spend) without repeat purchases",
            DegenerateFitWarning, stacklevel=2)
        return GammaGammaParams(float(p), float(q), float(v), ll, float(total),
                                CUSTOMER_MEAN_SPEND, mean_spend)
    if not result.success:
        log.warning("Gamma-Gamma fit stopped early (%s); using the best parameters found",
                    result.message)
    return GammaGammaParams(float(p), float(q), float(v), ll, float(total), GAMMA_GAMMA,
                            float(p * v / (q - 1)))


def probability_alive(params: BGNBDParams, frequency, recency, T) -> np.ndarray:
    """P(customer still active | x, t_x, T) (FHL 2005, eq. 11)."""
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * np.exp(log_ratio), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(params: BGNBDParams, t, frequency, recency, T) -> np.ndarray:
    """Expected number of purchases in the next ``t`` time units (FHL 2005, eq. 10)."""
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError(f"t should be >= 0, got {t}")
    z = t / (alpha + big_t + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * np.exp(log_ratio), 0.0)
    return head * tail / (1 + odds)


def expected_spend(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[mean spend per purchase | x, m]; the population mean for customers with x = 0.

    With ``spend_model`` ``customer_mean_spend``: m itself (the p -> inf limit of the
    model's conditional mean p (v + x m) / (p x + q - 1)).
    """
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    if params.spend_model == CUSTOMER_MEAN_SPEND:
        return np.where(x > 0, m, params.population_mean)
    p, q, v = params.p, params.q, params.v
    population = p * v / (q - 1)
    conditional = (p * (v + x * m)) / (p * x + q - 1)
    return np.where(x > 0, conditional, population)


def customer_lifetime_value(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    frequency,
    recency,
    T,
    monetary,
    *,
    horizon: float,
    step: float,
    discount_rate: float = 0.0,
) -> np.ndarray:
    """Discounted value of the purchases expected within ``horizon`` time units.

    The horizon is cut into steps of ``step`` units (e.g. months); each step's expected
    purchases times the expected spend are discounted by ``(1 + discount_rate) ** i``.
    """
    if horizon <= 0 or step <= 0:
        raise ValueError(f"horizon={horizon} and step={step} should be > 0")
    if discount_rate < 0:
        raise ValueError(f"discount_rate={discount_rate} should be >= 0")
    spend = expected_spend(gamma_gamma, frequency, monetary)
    n_steps = int(np.ceil(horizon / step - 1e-9))
    value = np.zeros_like(spend)
    previous = np.zeros_like(spend)
    for i in range(1, n_steps + 1):
        cumulative = expected_purchases(bgnbd, min(i * step, horizon), frequency, recency, T)
        value += (cumulative - previous) * spend / (1 + discount_rate) ** i
        previous = cumulative
    return value
