"""The parameters of the k-means core, declared once and checked once.

``PARAMETER_RULES`` is the single table: ``KMeans.fit`` and ``lloyd`` both validate
against it, so a rule and its message live in one place. Messages follow scikit-learn's:
"The 'n_clusters' parameter of KMeans must be an int in the range [1, inf). Got 0 instead."
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bigseg.kmeans.assign import ASSIGNMENTS, BACKENDS

__all__ = ["PARAMETER_RULES", "INIT_METHODS", "validate_params"]

INIT_METHODS = ("k-means++", "random")


@dataclass(frozen=True)
class IntRange:
    low: int
    allow_none: bool = False

    def ok(self, value) -> bool:
        if value is None:
            return self.allow_none
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, bool)
            and value >= self.low
        )

    def describe(self) -> str:
        rule = f"an int in the range [{self.low}, inf)"
        return rule + (" or None" if self.allow_none else "")


@dataclass(frozen=True)
class RealRange:
    low: float

    def ok(self, value) -> bool:
        return (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and np.isfinite(value)
            and value >= self.low
        )

    def describe(self) -> str:
        return f"a finite float in the range [{self.low}, inf)"


@dataclass(frozen=True)
class OneOf:
    options: tuple
    allow_array: bool = False

    def ok(self, value) -> bool:
        if isinstance(value, str):
            return value in self.options
        # an explicit array is checked for shape later, when the data's shape is known
        return self.allow_array and hasattr(value, "__len__")

    def describe(self) -> str:
        rule = "a str among " + "{" + ", ".join(repr(o) for o in self.options) + "}"
        return rule + (" or an array of shape (n_clusters, n_features)" if self.allow_array else "")


@dataclass(frozen=True)
class Boolean:
    def ok(self, value) -> bool:
        return isinstance(value, bool | np.bool_)

    def describe(self) -> str:
        return "a bool"


PARAMETER_RULES = {
    "n_clusters": IntRange(1),
    "init": OneOf(INIT_METHODS, allow_array=True),
    "max_iter": IntRange(1),
    "tol": RealRange(0.0),
    "seed": IntRange(0, allow_none=True),
    "spherical": Boolean(),
    "assignment": OneOf(ASSIGNMENTS),
    "backend": OneOf(BACKENDS),
    "max_points_per_centroid": IntRange(1, allow_none=True),
    "verbose": Boolean(),
}


def validate_params(params: dict, owner: str = "KMeans") -> None:
    """Raise ``ValueError`` for the first parameter that breaks its rule."""
    for name, value in params.items():
        rule = PARAMETER_RULES[name]
        if not rule.ok(value):
            shown = (
                value
                if isinstance(value, str | numbers.Number) or value is None
                else type(value).__name__
            )
            raise ValueError(
                f"The {name!r} parameter of {owner} must be {rule.describe()}. "
                f"Got {shown!r} instead."
            )
