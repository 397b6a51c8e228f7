"""Pure-numpy / Arrow pieces of bigseg.spark, without a SparkSession."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from bigseg.spark.arrow import (
    classify,
    features_matrix,
    length_histogram,
    payload_batch,
    read_payloads,
    valid_shard,
)
from bigseg.spark.sampling import (
    local_candidates,
    merge_candidates,
    row_hashes,
    sample_size,
)


def _list_column(X, element=None):
    n, d = X.shape
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(X.reshape(-1), element or pa.float32()))


def test_features_matrix_is_a_view_of_the_arrow_buffer():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    col = _list_column(X)
    M = features_matrix(col, 3)
    np.testing.assert_array_equal(M, X)
    assert np.shares_memory(M, np.frombuffer(col.values.buffers()[1], dtype=np.float32))
    np.testing.assert_array_equal(features_matrix(col.slice(1, 2), 3), X[1:3])  # offsets honoured
    with pytest.raises(ValueError, match="must all have 4 values"):
        features_matrix(col, 4)


def test_valid_shard_concatenates_once_and_handles_empty():
    X = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    w = np.arange(10, dtype=np.float64)
    batches = [
        pa.RecordBatch.from_arrays([_list_column(X[a:b]), pa.array(w[a:b])], names=["f", "w"])
        for a, b in ((0, 4), (4, 4), (4, 10))
    ]
    S, sw, bad = valid_shard(iter(batches), features="f", n_features=2, cosine=False, weight="w")
    assert S.flags.c_contiguous and S.flags.writeable and S.dtype == np.float32
    np.testing.assert_array_equal(S, X)
    np.testing.assert_array_equal(sw, w)
    assert bad.tolist() == [0, 0, 0, 0, 0]
    E, ew, _ = valid_shard(iter([]), features="f", n_features=2, cosine=False, weight="w")
    assert E.shape == (0, 2) and ew.shape == (0,)


def test_classify_matches_the_spark_rules():
    nan, inf = float("nan"), float("inf")
    rows = [[1.0, 2.0], None, [1.0], [], [nan, 1.0], [1.0, None], [0.0, 0.0], [3.0, 4.0], [inf, 0]]
    col = pa.array(rows, pa.list_(pa.float32()))
    w = np.array([1, 1, 1, 1, 1, 1, 1, -1, 1], dtype=np.float64)
    valid, X, counts = classify(col, w, 2, cosine=True)
    assert valid.tolist() == [True] + [False] * 8
    np.testing.assert_array_equal(X, [[1.0, 2.0]])
    # null, wrong length, non-finite, zero vector (cosine), bad weight
    assert counts.tolist() == [1, 2, 3, 1, 1]
    valid, X, counts = classify(col, None, 2, cosine=False)
    assert valid.tolist() == [True, False, False, False, False, False, True, True, False]
    assert counts.tolist() == [1, 2, 3, 0, 0]
    hist = length_histogram([pa.RecordBatch.from_arrays([col], names=["f"])], "f")
    assert dict(zip(hist["len"].tolist(), hist["count"].tolist(), strict=True)) == {
        -1: 1,
        0: 1,
        1: 1,
        2: 6,
    }


def test_payload_round_trip_without_pickle():
    arrays = {
        "c": np.arange(6, dtype=np.float32).reshape(2, 3),
        "n": np.array([5], dtype=np.int64),
        "h": np.array([2**63 + 1], dtype=np.uint64),
    }
    batch = payload_batch(3, arrays, {"history": [{"iteration": 1}]})
    rows = [SimpleNamespace(**r) for r in batch.to_pylist()]
    got = read_payloads(rows)
    assert list(got) == [3]
    out, meta = got[3]
    for name, arr in arrays.items():
        assert out[name].dtype == arr.dtype
        np.testing.assert_array_equal(out[name], arr)
    assert meta == {"history": [{"iteration": 1}]}
    with pytest.raises(TypeError, match="unsupported dtype"):
        payload_batch(0, {"o": np.array(["x"], dtype=object)})


def test_row_hashes_depend_on_content_and_seed_only():
    X = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    h = row_hashes(X, seed=7)
    np.testing.assert_array_equal(row_hashes(X[::-1], seed=7), h[::-1])
    assert (row_hashes(X, seed=8) != h).all()
    assert len(set(h.tolist())) == 50


@pytest.mark.parametrize("splits", [[1000], [10, 990], [333, 333, 334], [0, 500, 0, 500]])
def test_sample_does_not_depend_on_the_partitioning(splits):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 3)).astype(np.float32)
    X[500:520] = X[0]  # duplicates tie on the hash
    w = rng.uniform(0, 2, 1000)
    size = 100
    whole = merge_candidates(local_candidates(X, w, seed=5, size=size), size)
    perm = rng.permutation(1000)  # rows in another order, cut into shards
    Xp, wp = X[perm], w[perm]
    bounds = np.cumsum([0, *splits])
    parts = [
        local_candidates(Xp[a:b], wp[a:b], seed=5, size=size)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    gathered = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    rows, weights = merge_candidates(gathered, size)
    np.testing.assert_array_equal(rows, whole[0])
    np.testing.assert_array_equal(weights, whole[1])


def test_sample_size_rule():
    assert sample_size(3, 500) == 500
    assert sample_size(3, 50_000) == 10_000
    assert sample_size(1024, 10**6) == 40_960
