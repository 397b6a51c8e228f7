"""Data and reference fits shared by the Spark-layer tests (no Spark session made here)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def blobs(n=3000, d=8, centers=6, seed=0, spread=0.3):
    """float32 gaussian blobs around well-separated centres."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(centers, d))
    labels = rng.integers(0, centers, size=n)
    X = means[labels] + spread * rng.standard_normal((n, d))
    return X.astype(np.float32), labels


def frame(spark, X, *, w=None, partitions=None, element=None, extra=None):
    """A DataFrame with ``features`` array<float> (or element type), optional ``w``."""
    element = element or pa.float32()
    X = np.asarray(X)
    n, d = X.shape
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    cols = {
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "features": pa.ListArray.from_arrays(
            offsets, pa.array(X.reshape(-1).astype(element.to_pandas_dtype()), element)
        ),
    }
    if w is not None:
        cols["w"] = pa.array(np.asarray(w, dtype=np.float64))
    for name, values in (extra or {}).items():
        cols[name] = values
    df = spark.createDataFrame(pa.table(cols))
    if partitions is not None:
        df = df.repartition(partitions) if partitions > 1 else df.coalesce(1)
    return df


def reference_fit(
    X,
    k,
    *,
    seed=0,
    max_iter=20,
    tol=1e-4,
    w=None,
    spherical=False,
    init_mode="k-means||",
    assignment="auto",
):
    """What FaissKMeans must produce, computed in one process with the core."""
    from bigseg.kmeans.lloyd import lloyd
    from bigseg.spark.sampling import (
        local_candidates,
        merge_candidates,
        sample_size,
        seed_centroids,
    )

    size = sample_size(k, X.shape[0])
    rows, weights = merge_candidates(local_candidates(X, w, seed=seed, size=size), size)
    init = seed_centroids(
        rows,
        weights,
        k=k,
        init_mode=init_mode,
        seed=seed,
        spherical=spherical,
        weighted=w is not None,
    )
    return lloyd(
        X, init, sample_weight=w, max_iter=max_iter, tol=tol, spherical=spherical, seed=seed
    )


def sorted_rows(C):
    C = np.asarray(C, dtype=np.float64)
    return C[np.lexsort(C.T[::-1])]


def assert_same_centroids(a, b, rtol=1e-5):
    """Same centroids in the same order, 1e-5 relative to the data's scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)
