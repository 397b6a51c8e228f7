"""Confidence intervals for response rates and their difference (vectorised numpy).

Wilson's score interval for one proportion stays inside [0, 1] and keeps close to its
nominal coverage for small counts and rates near 0 or 1, where the normal (Wald) interval
does not. The difference of two independent proportions uses Newcombe's hybrid score
interval (method 10 of Newcombe 1998, Statistics in Medicine 17:873-890), built from the
two Wilson intervals.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def z_value(alpha: float) -> float:
    """The two-sided normal quantile for significance level ``alpha`` (1.96 at 0.05)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha} should be within (0, 1)")
    return float(norm.ppf(1.0 - alpha / 2.0))


def wilson_interval(successes, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of Wilson's score interval for successes / n; NaN where n == 0."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(x < 0) or np.any(x > n):
        raise ValueError(f"successes={successes} should be within [0, n={n.tolist()}]")
    z = z_value(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    # Rounding can put a bound a hair outside [0, 1] at p = 0 or 1.
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_interval(x1, n1, x2, n2, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) for p1 - p2 (e.g. treated minus control), Newcombe's hybrid score."""
    x1, n1 = np.asarray(x1, dtype=np.float64), np.asarray(n1, dtype=np.float64)
    x2, n2 = np.asarray(x2, dtype=np.float64), np.asarray(n2, dtype=np.float64)
    l1, u1 = wilson_interval(x1, n1, alpha)
    l2, u2 = wilson_interval(x2, n2, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lower = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper
