"""Behavioural segments: k-means (FaissKMeans) on chosen feature groups and weights.

``behavioural_segments(df, cfg, sweep_cfg)``:

1. the vector: the configured groups of named columns, standardised and weighted
   (bigseg.segments.vectors), or the feature table's own vector when no group is named;
2. k: the configured one, else the k sweep's recommendation (bigseg.evaluation.ksweep),
   whose best model at that k is reused instead of fitting again;
3. the assignment: ``cfg.output_col`` (the k-means id, default ``segment``), and with
   ``micro_k`` also the macro and micro ids and ``segment_id`` "m.j"
   (bigseg.segments.hierarchy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bigseg.config import BehaviouralConfig, SweepConfig
from bigseg.segments.hierarchy import HierarchicalSegments, fit_hierarchy
from bigseg.segments.vectors import VectorSpec, assemble

log = logging.getLogger(__name__)

VECTOR_COL = "segment_features"


@dataclass
class BehaviouralSegments:
    """The assigned table and how it was made."""

    df: DataFrame
    model: Any
    k: int
    features_col: str
    vector: VectorSpec | None = None
    sweep: Any = None
    hierarchy: HierarchicalSegments | None = None


def behavioural_segments(df: DataFrame, cfg: BehaviouralConfig | None = None,
                         sweep_cfg: SweepConfig | None = None,
                         estimator: Any = None) -> BehaviouralSegments:
    """Segment ``df`` (one row per customer) with k-means on the configured features.

    ``estimator``: an unfitted FaissKMeans whose other Params (distance, assignment,
    backend, tol, ...) the fit at a configured k keeps; k, seed, maxIter and the columns
    come from ``cfg``.
    """
    from bigseg.evaluation.ksweep import sweep_k
    from bigseg.spark import FaissKMeans

    cfg, sweep_cfg = cfg or BehaviouralConfig(), sweep_cfg or SweepConfig()
    vector = None
    features_col = cfg.features_col
    if cfg.groups:
        df, vector = assemble(df, cfg.groups, cfg.group_weights, output_col=VECTOR_COL)
        features_col = VECTOR_COL
    elif features_col not in df.columns:
        raise ValueError(f"features_col={features_col!r} is not in the table and no feature "
                         f"groups are configured; it has {df.columns}")
    sweep = None
    if cfg.k is None:
        sweep = sweep_k(df, range(sweep_cfg.k_min, sweep_cfg.k_max + 1), sweep_cfg.seeds,
                        features_col=features_col, max_iter=sweep_cfg.max_iter,
                        silhouette_sample_size=sweep_cfg.silhouette_sample,
                        min_stability=sweep_cfg.min_stability)
        k, model = sweep.recommended_k, sweep.model
    else:
        k, model = cfg.k, None
    hierarchy = None
    if cfg.micro_k is not None:
        hierarchy = fit_hierarchy(df, k, cfg.micro_k, features_col=features_col,
                                  seed=cfg.seed, max_iter=cfg.max_iter)
        model = hierarchy.macro
        out = hierarchy.transform(df).withColumn(cfg.output_col, F.col("macro_segment"))
    else:
        if model is None:
            template = estimator.copy() if estimator is not None else FaissKMeans()
            model = (template.setK(k).setSeed(cfg.seed).setMaxIter(cfg.max_iter)
                     .setFeaturesCol(features_col).fit(df))
        out = (model.copy().setFeaturesCol(features_col).setPredictionCol(cfg.output_col)
               .setDistanceCol("segment_distance").transform(df))
    log.info("behavioural segments: k=%d%s", k,
             "" if hierarchy is None else f", {hierarchy.n_micro} micro segments")
    return BehaviouralSegments(df=out, model=model, k=k, features_col=features_col,
                               vector=vector, sweep=sweep, hierarchy=hierarchy)
