"""The bad-input table: each case is a ValueError naming the value and the rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from bigseg.kmeans import KMeans, check_array, kmeans_plusplus, lloyd, make_assigner
from bigseg.kmeans.assign import faiss_gpu_count

RNG = np.random.default_rng(0)
X10 = RNG.standard_normal((10, 3)).astype(np.float32)


def _with(values, rows, cols=0):
    X = X10.copy()
    X[rows, cols] = values
    return X


BAD_FIT = [
    pytest.param({}, {"X": np.zeros(10)}, r"must be a 2-D array .* got 1-D", id="1-D"),
    pytest.param({}, {"X": np.zeros((2, 3, 4))}, r"got 3-D", id="3-D"),
    pytest.param({}, {"X": np.array([["a", "b"]])}, r"must hold real numbers", id="strings"),
    pytest.param(
        {}, {"X": _with(np.nan, [3, 7])}, r"2 row\(s\) contain NaN \(first at row 3\)", id="nan"
    ),
    pytest.param(
        {},
        {"X": _with(np.inf, [5, 6, 8], 2)},
        r"3 row\(s\) contain inf \(first at row 5\)",
        id="inf",
    ),
    pytest.param(
        {},
        {"X": _with(-np.inf, [9], 1)},
        r"1 row\(s\) contain inf \(first at row 9\)",
        id="minus-inf",
    ),
    pytest.param(
        {"n_clusters": 8}, {"X": X10[:5]}, r"n_samples=5 should be >= n_clusters=8\.", id="n<k"
    ),
    pytest.param(
        {},
        {"sample_weight": np.r_[np.ones(9), -1.0]},
        r"sample_weight must be >= 0: 1 value\(s\) are negative \(first at index 9",
        id="negative-weight",
    ),
    pytest.param(
        {},
        {"sample_weight": np.r_[np.nan, np.ones(8), np.inf]},
        r"sample_weight must be finite: 2 value\(s\) .* \(first at index 0\)",
        id="non-finite-weight",
    ),
    pytest.param(
        {},
        {"sample_weight": np.zeros(10)},
        r"sample_weight must not be all zero",
        id="zero-weights",
    ),
    pytest.param(
        {},
        {"sample_weight": np.ones(7)},
        r"sample_weight must be 1-D with n_samples=10",
        id="weight-length",
    ),
    pytest.param(
        {"n_clusters": 2, "init": np.zeros((3, 3))},
        {},
        r"initial centers \(3, 3\) does not match the number of clusters 2",
        id="init-rows",
    ),
    pytest.param(
        {"n_clusters": 2, "init": np.zeros((2, 4))},
        {},
        r"initial centers \(2, 4\) does not match the number of features of the data 3",
        id="init-cols",
    ),
    pytest.param(
        {"n_clusters": 0},
        {},
        r"'n_clusters' parameter of KMeans must be an int in the range \[1, inf\)\. Got 0",
        id="k<1",
    ),
    pytest.param({"n_clusters": 2.5}, {}, r"'n_clusters' .* Got 2\.5", id="k-float"),
    pytest.param({"n_clusters": True}, {}, r"'n_clusters' .* Got True", id="k-bool"),
    pytest.param({"init": "kmeans||"}, {}, r"'init' parameter .*'k-means\+\+'", id="init-name"),
    pytest.param({"max_iter": 0}, {}, r"'max_iter' .* range \[1, inf\)", id="max_iter"),
    pytest.param({"tol": -1.0}, {}, r"'tol' .* range \[0.0, inf\)", id="tol"),
    pytest.param({"seed": -3}, {}, r"'seed' .* or None\. Got -3", id="seed"),
    pytest.param({"assignment": "annoy"}, {}, r"'assignment' .*'hnsw'", id="assignment"),
    pytest.param({"backend": "cuda"}, {}, r"'backend' .*'faiss-gpu'", id="backend"),
    pytest.param(
        {"max_points_per_centroid": 0}, {}, r"'max_points_per_centroid' .* or None", id="mppc"
    ),
    pytest.param(
        {"backend": "torch", "assignment": "hnsw"},
        {},
        r"backend='torch' supports assignment='exact' only",
        id="torch-ann",
    ),
]


@pytest.mark.parametrize(("params", "data", "match"), BAD_FIT)
def test_bad_input_raises(params, data, match):
    kwargs = {"n_clusters": 2, "seed": 0, **params}
    X = data.get("X", X10)
    with pytest.raises(ValueError, match=match):
        KMeans(**kwargs).fit(X, sample_weight=data.get("sample_weight"))


@pytest.mark.skipif(faiss_gpu_count() > 0, reason="a FAISS GPU is visible here")
def test_unavailable_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"faiss-gpu.*get_num_gpus\(\) is 0"):
        KMeans(2, backend="faiss-gpu", seed=0).fit(X10)
    # "auto" falls back to faiss-cpu instead
    KMeans(2, backend="auto", seed=0).fit(X10)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        KMeans(2).predict(X10)


def test_spherical_zero_row():
    X = X10.copy()
    X[4] = 0
    with pytest.raises(ValueError, match=r"1 row\(s\) of X have norm 0 \(first at row 4\)"):
        KMeans(2, spherical=True, seed=0).fit(X)


def test_lower_level_functions_validate():
    with pytest.raises(ValueError, match=r"n_samples=10 should be >= n_clusters=11"):
        kmeans_plusplus(X10, 11)
    with pytest.raises(ValueError, match=r"n_samples=10 should be >= n_clusters=11"):
        lloyd(X10, np.zeros((11, 3)))
    with pytest.raises(ValueError, match=r"number of features of the data 3"):
        lloyd(X10, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"'tol' parameter of lloyd"):
        lloyd(X10, X10[:2], tol=-1)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['efsearch'\]"):
        make_assigner(X10[:2], assignment="hnsw", ann_params={"efsearch": 3})


def test_check_array_keeps_good_arrays():
    X = np.ascontiguousarray(X10)
    assert check_array(X) is X
    converted = check_array(X10.astype(np.float64))
    assert converted.dtype == np.float32 and converted.flags.c_contiguous
