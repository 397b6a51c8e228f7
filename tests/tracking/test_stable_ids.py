"""Stable segment ids: optimal matching of centroids, threshold, fresh ids."""

from __future__ import annotations

import numpy as np
import pytest
from tracking_toys import toy_metadata

from bigseg.tracking.stable_ids import (
    first_version_ids,
    match_segments,
    select_features,
    to_reference_space,
)

PREVIOUS = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
IDS, NAMES = [4, 7, 9], ["dormant", "loyal", "new"]


def test_shifted_and_reordered_centroids_keep_their_ids():
    new = PREVIOUS[[2, 0, 1]] + 0.5
    match = match_segments(PREVIOUS, IDS, NAMES, new)
    assert match.segment_ids == [9, 4, 7]
    assert match.segment_names == ["new", "dormant", "loyal"]
    assert match.matched == {0: 2, 1: 0, 2: 1}
    assert match.distances[0] == pytest.approx(np.sqrt(0.5))
    assert match.new_ids == []


def test_optimal_not_greedy():
    # Greedy would give new[0] to previous 1 (distance 1) and leave new[1] far away.
    prev = np.array([[0.0], [2.0]])
    new = np.array([[1.0], [3.5]])
    match = match_segments(prev, [0, 1], ["a", "b"], new)
    assert match.segment_ids == [0, 1]


def test_far_segments_get_new_ids_above_every_previous_id():
    new = np.vstack([PREVIOUS[:2] + 0.1, [[50.0, 50.0]], [[0.0, 10.3]]])
    match = match_segments(PREVIOUS, IDS, NAMES, new, names=["a", "b", "whales", "d"],
                           max_distance=1.0)
    assert match.segment_ids == [4, 7, 10, 9]
    assert match.segment_names == ["dormant", "loyal", "whales", "new"]
    assert match.new_ids == [10]


def test_more_new_segments_than_previous_ones():
    new = np.vstack([PREVIOUS, [[5.0, 5.0]]])
    match = match_segments(PREVIOUS, IDS, NAMES, new, next_id=20)
    assert match.segment_ids == [4, 7, 9, 20]
    assert match.segment_names[3] == "segment_20"


def test_fewer_new_segments_drop_previous_ids():
    match = match_segments(PREVIOUS, IDS, NAMES, PREVIOUS[[1]])
    assert match.segment_ids == [7]


def test_first_version_ids():
    assert first_version_ids(3).segment_ids == [0, 1, 2]
    assert first_version_ids(2, ["a", "b"]).segment_names == ["a", "b"]


def test_reference_space_undoes_a_refitted_scaler():
    old = toy_metadata()
    new = toy_metadata()
    for e in new["features"]:
        e["scale"] = {**e["scale"], "center": e["scale"]["center"] + 1.0,
                      "scale": e["scale"]["scale"] * 2.0}
    raw_points = np.array([[5.0, 0.0, 2.0, 0.3], [7.0, 1.0, 0.5, 0.1]])  # pre-scale values

    def scaled(meta):
        return np.array([[(x - e["scale"]["center"]) / e["scale"]["scale"] * e["weight"]
                          for x, e in zip(p, meta["features"], strict=True)]
                         for p in raw_points])

    moved, shared = to_reference_space(scaled(new), new, old)
    assert shared == [e["name"] for e in old["features"]]
    np.testing.assert_allclose(moved, select_features(scaled(old), old, shared))


@pytest.mark.parametrize("args,message", [
    ((PREVIOUS, IDS, NAMES, np.zeros((2, 3))), "same number of columns"),
    ((PREVIOUS, IDS[:2], NAMES, PREVIOUS), r"previous_ids \(2\)"),
    ((PREVIOUS, IDS, NAMES, PREVIOUS, ["a"]), "names has 1 entries; there are 3"),
    ((PREVIOUS, IDS, NAMES, PREVIOUS, None, -1.0), "max_distance=-1.0 should be >= 0"),
])
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        match_segments(*args)


def test_pca_models_cannot_change_space():
    meta = toy_metadata(pca={"k": 1, "mean": [0.0] * 4, "components": [[1.0, 0, 0, 0]]})
    with pytest.raises(ValueError, match="PCA-projected"):
        to_reference_space(np.zeros((1, 1)), meta, toy_metadata())
