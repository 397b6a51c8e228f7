"""Evaluation: cluster quality from Spark aggregates, stability between labelings, and the
k sweep that recommends a number of segments.

- ``metrics``: per-cluster moments in one aggregation -> inertia, Calinski-Harabasz,
  Davies-Bouldin; silhouette on a bounded sample;
- ``stability``: adjusted Rand index from a contingency table counted by Spark;
- ``ksweep``: ``sweep_k`` over a k range and several seeds, ``recommend_k`` and its rule.
"""

from bigseg.evaluation.ksweep import KSweepResult, recommend_k, sweep_k
from bigseg.evaluation.metrics import (
    ClusterMoments,
    JointMoments,
    cluster_moments,
    joint_moments,
    quality,
    silhouette_sample,
)
from bigseg.evaluation.stability import adjusted_rand_index, ari_between, contingency

__all__ = [
    "ClusterMoments",
    "JointMoments",
    "KSweepResult",
    "adjusted_rand_index",
    "ari_between",
    "cluster_moments",
    "contingency",
    "joint_moments",
    "quality",
    "recommend_k",
    "silhouette_sample",
    "sweep_k",
]
