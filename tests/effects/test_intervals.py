"""Wilson and Newcombe intervals against published values (Newcombe 1998)."""

from __future__ import annotations

import numpy as np
import pytest

from bigseg.effects.intervals import newcombe_interval, wilson_interval, z_value


def test_wilson_interval_matches_published_values():
    lo, hi = wilson_interval([0, 81, 15, 1], [20, 263, 148, 29])
    # Newcombe (1998a), Table I, method 3 (score interval without continuity correction).
    assert np.round(lo, 4).tolist() == [0.0, 0.2553, 0.0624, 0.0061]
    assert np.round(hi, 4).tolist() == [0.1611, 0.3662, 0.1605, 0.1718]
    # 0 of n: the upper bound is z^2 / (n + z^2).
    assert hi[0] == pytest.approx(1.959964**2 / (20 + 1.959964**2), rel=1e-6)


def test_wilson_interval_narrows_with_alpha_and_is_nan_without_customers():
    lo90, hi90 = wilson_interval(30, 100, alpha=0.10)
    lo95, hi95 = wilson_interval(30, 100, alpha=0.05)
    assert lo95 < lo90 < 0.3 < hi90 < hi95
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_newcombe_interval_matches_published_values():
    # Newcombe (1998b), Table II, method 10: 56/70 - 48/80 and 9/10 - 3/10.
    lo, hi = newcombe_interval([56, 9], [70, 10], [48, 3], [80, 10])
    assert np.round(lo, 4).tolist() == [0.0524, 0.1705]
    assert np.round(hi, 4).tolist() == [0.3339, 0.8090]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: z_value(0.0), r"alpha=0.0 should be within \(0, 1\)"),
        (lambda: z_value(1.5), r"alpha=1.5 should be within \(0, 1\)"),
        (lambda: wilson_interval(5, 3), r"successes=5 should be within \[0, n=3.0\]"),
        (lambda: wilson_interval(-1, 3), r"successes=-1 should be within"),
    ],
)
def test_bad_interval_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
