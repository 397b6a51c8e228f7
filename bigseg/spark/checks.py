"""The rules that stop a fit on bad input, shared by the driver and the barrier tasks.

Rows are classified into the first of ``REASONS`` that applies (see ``arrow.classify``
for the executors and ``dataset.invalid_rows`` for Spark SQL); these functions decide
from the global counts, identically in every barrier task and on the driver. Pure Python:
executors import it without pyspark.ml.
"""

from __future__ import annotations

REASONS = ("null", "wrong_length", "non_finite", "zero_vector", "bad_weight")


def input_problem(
    *,
    features_col: str,
    weight_col: str | None,
    n_total: int,
    invalid: dict[str, int],
    n_features: int,
    k: int,
    w_valid: float,
    cosine: bool,
    handle_invalid: str,
) -> tuple[str, str] | None:
    """``(kind, message)`` of the first problem that stops the fit, or None.

    ``kind`` is "empty", "no_vectors", "invalid" (the caller adds an example row),
    "too_few_rows" or "zero_weight". ``n_features`` 0 means no row has a non-empty vector.
    """
    if n_total == 0:
        return "empty", "FaissKMeans cannot fit an empty DataFrame: it has no rows."
    if n_features <= 0:
        return (
            "no_vectors",
            f"featuresCol {features_col!r} has no non-empty vector in its {n_total} rows.",
        )
    n_invalid = sum(invalid.values())
    n_valid = n_total - n_invalid
    if n_invalid and handle_invalid == "error":
        reasons = ", ".join(f"{v} {r.replace('_', ' ')}" for r, v in invalid.items() if v)
        return (
            "invalid",
            f"featuresCol {features_col!r}"
            + (f" / weightCol {weight_col!r}" if weight_col else "")
            + f": {n_invalid} invalid row(s) of {n_total} ({reasons}; vectors must have "
            f"{n_features} finite values{', not all 0' if cosine else ''}"
            + ("; weights finite and >= 0" if weight_col else "")
            + ").",
        )
    if n_valid < k:
        return (
            "too_few_rows",
            f"k={k} is larger than the number of valid rows {n_valid}"
            + (f" ({n_invalid} invalid rows skipped of {n_total})" if n_invalid else "")
            + ": each cluster needs at least one row.",
        )
    if weight_col and w_valid <= 0:
        return (
            "zero_weight",
            f"weightCol {weight_col!r} is 0 on every valid row: no row would count.",
        )
    return None


def most_common_length(histogram: dict[int, int]) -> int:
    """The features' length: the most common positive length, the smallest on ties; 0 if none."""
    lengths = {d: n for d, n in histogram.items() if d > 0 and n > 0}
    if not lengths:
        return 0
    return min(lengths, key=lambda d: (-lengths[d], d))
