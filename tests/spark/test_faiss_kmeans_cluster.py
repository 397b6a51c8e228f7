"""FaissKMeans on the loopback standalone cluster: 2 executors, TCP between their tasks."""

from __future__ import annotations

import pytest
from helpers_spark import assert_same_centroids, blobs, frame, reference_fit

from bigseg.spark import FaissKMeans

pytestmark = pytest.mark.cluster


def test_cluster_gives_the_same_centroids_as_local(cluster_spark):
    """The local tests pin local[2] to ``reference_fit``; the cluster must match it too."""
    X, _ = blobs(n=2000, d=4, centers=4, seed=21)
    model = FaissKMeans(k=4, seed=5).fit(frame(cluster_spark, X, partitions=3))
    assert model.summary.trainingMode == "barrier"
    assert model.summary.numWorkers == 2  # two executors with one core each
    ref = reference_fit(X, 4, seed=5)
    assert_same_centroids(model.centroids, ref.centroids)
    assert model.summary.trainingCost == pytest.approx(ref.inertia, rel=1e-5)
    out = model.transform(frame(cluster_spark, X, partitions=3)).groupBy("prediction").count()
    assert sorted(r["count"] for r in out.collect()) == sorted(model.summary.clusterSizes)
