"""Choosing k: a sweep over a k range and several seeds, run as Spark work.

Every (k, seed) pair is one ``FaissKMeans`` fit, and all of them run in ONE
``FaissKMeans.fitMultiple`` call: one barrier stage that reads the rows once and runs the
fits one after the other (only k x d centroids per fit come back, so the one call costs
no more memory than one fit). The fitted models of one k then label the same rows in one
chained transform, which is cached once and read by:

- one aggregation grouped by every seed's label at once (bigseg.evaluation.metrics
  ``joint_moments``): its marginal for the best seed (lowest inertia) gives inertia,
  Calinski-Harabasz and Davies-Bouldin, and its counts per pair of seeds give the
  adjusted Rand index between seeds (stability);
- a bounded sample for the silhouette.

Nothing proportional to the number of customers reaches the driver except that sample.

Recommendation rule (:data:`RULE`): among the k whose mean ARI between seeds is at least
``min_stability``, the k with the highest silhouette; silhouettes within ``tie`` of the
best count as ties and the smallest such k wins. When no k is stable enough, the same rule
runs over all k, and the result says so.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from bigseg.evaluation.metrics import joint_moments, quality, silhouette_sample
from bigseg.evaluation.stability import adjusted_rand_index

log = logging.getLogger(__name__)

RULE = (
    "highest silhouette (sample) among the k whose mean adjusted Rand index between "
    "seeds is >= {min_stability}; silhouettes within {tie} of the best are ties, and the "
    "smallest tied k wins"
)
COLUMNS = [
    "k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "stability_ari",
    "stability_ari_min", "best_seed", "n_iter", "fit_seconds",
]


@dataclass
class KSweepResult:
    """Per-k table (``COLUMNS``), the recommended k, the rule that chose it, and the best
    model per k (lowest inertia over the seeds)."""

    table: pd.DataFrame
    recommended_k: int
    rule: str
    models: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> Any:
        """The best model at the recommended k."""
        return self.models[self.recommended_k]


def recommend_k(table: pd.DataFrame, min_stability: float = 0.8, tie: float = 0.01
                ) -> tuple[int, str]:
    """The recommended k from a sweep table, and the rule (as text) that chose it."""
    if table.empty:
        raise ValueError("cannot recommend k from an empty sweep table")
    rule = RULE.format(min_stability=min_stability, tie=tie)
    scored = table[np.isfinite(table["silhouette"])]
    if scored.empty:
        k = int(table["k"].min())
        return k, rule + f"; no k has a silhouette, so the smallest k ({k}) is returned"
    stable = scored[scored["stability_ari"] >= min_stability]
    if stable.empty:
        stable = scored
        rule += "; no k reached the stability bound, so all k were considered"
    best = stable["silhouette"].max()
    k = int(stable.loc[stable["silhouette"] >= best - tie, "k"].min())
    return k, rule


def _check(ks: Sequence[int], seeds: Sequence[int], silhouette_n: int, min_stability: float):
    rules = [
        (len(ks) > 0, f"ks={list(ks)} should not be empty"),
        (all(int(k) >= 2 for k in ks), f"ks={list(ks)} should all be >= 2"),
        (len(set(ks)) == len(ks), f"ks={list(ks)} should be distinct"),
        (len(seeds) >= 1, f"seeds={list(seeds)} should hold at least one seed"),
        (len(set(seeds)) == len(seeds), f"seeds={list(seeds)} should be distinct"),
        (silhouette_n >= 2, f"silhouette_sample={silhouette_n} should be >= 2"),
        (0 <= min_stability <= 1, f"min_stability={min_stability} should be within [0, 1]"),
    ]
    for ok, message in rules:
        if not ok:
            raise ValueError(message)


def sweep_k(
    df: DataFrame,
    ks: Sequence[int],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    features_col: str = "features",
    max_iter: int = 20,
    silhouette_sample_size: int = 2000,
    min_stability: float = 0.8,
    tie: float = 0.01,
    **kmeans_params: Any,
) -> KSweepResult:
    """Fit k-means for every k in ``ks`` and every seed; measure; recommend a k.

    ``kmeans_params`` go to ``FaissKMeans`` (e.g. ``weightCol``, ``distanceMeasure``).
    With one seed, stability is NaN and the rule falls back to all k. All fits run in
    one ``fitMultiple`` stage, so ``fit_seconds`` is the mean over the k's seeds of each
    fit's share of that stage (``summary.trainingSeconds``: its own init + Lloyd time
    plus an even share of the stage's scheduling, reading and rendezvous).
    """

    ks, seeds = [int(k) for k in ks], [int(s) for s in seeds]
    _check(ks, seeds, silhouette_sample_size, min_stability)
    data = df.select(features_col).persist(StorageLevel.MEMORY_AND_DISK)
    rows, models = [], {}
    try:
        n_rows = data.count()
        if n_rows <= max(ks):
            raise ValueError(f"ks={ks}: the largest k should be < the {n_rows} rows")
        fits = _fit_all(data, ks, seeds, features_col, max_iter, kmeans_params)
        for k in ks:
            row, models[k] = _one_k(data, k, seeds, fits[k], features_col,
                                    silhouette_sample_size, n_rows)
            rows.append(row)
            log.info("k sweep: %s", row)
    finally:
        data.unpersist()
    table = pd.DataFrame(rows, columns=COLUMNS)
    k, rule = recommend_k(table, min_stability=min_stability, tie=tie)
    log.info("k sweep: recommended k=%d (%s)", k, rule)
    return KSweepResult(table=table, recommended_k=k, rule=rule, models=models)


def _fit_all(data, ks, seeds, features_col, max_iter, params) -> dict[int, list]:
    """{k: the models of every seed, in seed order}, from one ``fitMultiple`` call."""
    from bigseg.spark import FaissKMeans

    km = FaissKMeans(maxIter=max_iter, featuresCol=features_col, **params)
    pairs = [(k, seed) for k in ks for seed in seeds]
    start = time.perf_counter()
    models = dict(km.fitMultiple(data, [{km.k: k, km.seed: seed} for k, seed in pairs]))
    log.info("k sweep: %d fits in %.2f s", len(pairs), time.perf_counter() - start)
    fits: dict[int, list] = {k: [] for k in ks}
    for i, (k, _) in enumerate(pairs):
        fits[k].append(models[i])
    return fits


def _one_k(data, k, seeds, fits, features_col, sil_n, n_rows):
    seconds = float(np.mean([m.summary.trainingSeconds for m in fits]))
    costs = [m.summary.trainingCost for m in fits]
    best = int(np.argmin(costs))
    labelled = data
    for i, model in enumerate(fits):
        model = model.copy()
        model.setPredictionCol(f"_p{i}").setDistanceCol(f"_d{i}" if i == best else "")
        labelled = model.transform(labelled)
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # One aggregation over every seed's labels at once: the best seed's moments and
        # every pair's contingency table are marginals of it.
        joint = joint_moments(labelled, fits[best].numFeatures,
                              [f"_p{i}" for i in range(len(fits))],
                              features_col=features_col, distance_col=f"_d{best}")
        q = quality(joint.marginal(best))
        aris = [adjusted_rand_index(joint.contingency(a, b))
                for a, b in itertools.combinations(range(len(fits)), 2)]
        sil = silhouette_sample(labelled, sil_n, features_col=features_col,
                                prediction_col=f"_p{best}", seed=k, n_rows=n_rows)
    finally:
        labelled.unpersist()
    row = {
        "k": k, "inertia": q["inertia"], "silhouette": sil,
        "davies_bouldin": q["davies_bouldin"], "calinski_harabasz": q["calinski_harabasz"],
        "stability_ari": float(np.mean(aris)) if aris else float("nan"),
        "stability_ari_min": float(np.min(aris)) if aris else float("nan"),
        "best_seed": seeds[best], "n_iter": fits[best].summary.numIter,
        "fit_seconds": round(seconds, 3),
    }
    return row, fits[best]
