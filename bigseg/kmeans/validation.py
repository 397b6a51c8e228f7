"""Input checks for the k-means core: data matrices, sample weights, initial centroids.

Every check raises ``ValueError`` naming the value and the rule (never ``assert``, which
``python -O`` removes). The checked arrays are what the FAISS code below expects:
2-D, C-contiguous float32 and finite.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_array", "check_sample_weight", "check_init_centroids", "check_n_clusters"]


def _first_bad_rows(bad_rows: np.ndarray) -> tuple[int, int]:
    """Count of flagged rows and the index of the first one."""
    idx = np.flatnonzero(bad_rows)
    return int(idx.size), int(idx[0])


def check_array(X, *, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D, C-contiguous, finite float32 array.

    No copy is made when ``X`` already has that form (the common case for shards built
    from Arrow buffers), so a caller can rely on ``check_array(X) is X``.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got {arr.ndim}-D "
            f"with shape {arr.shape}. Reshape a single feature with X.reshape(-1, 1)."
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least 1 is required.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    # isfinite over a float32 matrix is one cheap pass; doing it per row keeps the
    # message precise (count of rows and the first one) without a second pass.
    if arr.size and not np.isfinite(arr.sum(dtype=np.float64)):
        row_finite = np.isfinite(arr).all(axis=1)
        nan_rows = np.isnan(arr).any(axis=1)
        inf_rows = ~row_finite & ~nan_rows
        parts = []
        if nan_rows.any():
            count, first = _first_bad_rows(nan_rows)
            parts.append(f"{count} row(s) contain NaN (first at row {first})")
        if inf_rows.any():
            count, first = _first_bad_rows(inf_rows)
            parts.append(f"{count} row(s) contain inf (first at row {first})")
        if not parts:
            # The float64 sum overflowed although every value is finite float32.
            parts.append("values are too large to sum in float64")
        raise ValueError(f"{name} must be finite: " + "; ".join(parts) + ".")
    return arr


def check_sample_weight(
    sample_weight, n: int, *, allow_all_zero: bool = False
) -> np.ndarray | None:
    """Return the weights as a float64 vector of length ``n``, or None for "all equal".

    Negative or non-finite weights are errors; so are all-zero weights (nothing would be
    fitted) unless ``allow_all_zero``, which a distributed participant whose shard happens
    to carry only zero weights needs (the global total is checked after the allreduce).
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"sample_weight must be 1-D with n_samples={n} entries, got shape {w.shape}."
        )
    finite = np.isfinite(w)
    if not finite.all():
        count, first = _first_bad_rows(~finite)
        raise ValueError(
            f"sample_weight must be finite: {count} value(s) are NaN or inf "
            f"(first at index {first})."
        )
    negative = w < 0
    if negative.any():
        count, first = _first_bad_rows(negative)
        raise ValueError(
            f"sample_weight must be >= 0: {count} value(s) are negative "
            f"(first at index {first}: {w[first]!r})."
        )
    if n and not allow_all_zero and not w.any():
        raise ValueError("sample_weight must not be all zero: no point would count.")
    return np.ascontiguousarray(w)


def check_n_clusters(n_clusters) -> int:
    """``n_clusters`` must be an int >= 1 (bools are rejected: they are ints by accident)."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int | np.integer):
        raise ValueError(
            f"n_clusters must be an int in the range [1, inf), got {n_clusters!r} "
            f"of type {type(n_clusters).__name__}."
        )
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be an int in the range [1, inf), got {n_clusters}.")
    return int(n_clusters)


def check_init_centroids(init, n_clusters: int, n_features: int) -> np.ndarray:
    """Initial centroids given as an array: shape (n_clusters, n_features), finite."""
    centroids = check_array(init, name="init")
    if centroids.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {centroids.shape} does not match the number "
            f"of clusters {n_clusters}."
        )
    if centroids.shape[1] != n_features:
        raise ValueError(
            f"The shape of the initial centers {centroids.shape} does not match the number "
            f"of features of the data {n_features}."
        )
    return centroids
