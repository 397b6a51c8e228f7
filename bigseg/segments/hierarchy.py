"""Macro and micro segments: a second k-means inside each macro segment.

``fit_hierarchy`` fits the macro model, then one micro model per macro segment on that
segment's rows (k = min(micro_k, its size)). ``transform`` labels rows with the macro id,
the micro index inside it and the two-level id ``"<macro>.<micro>"`` (e.g. ``"3.12"``),
so thousands of micro segments stay readable as refinements of a few macro ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

MACRO, MICRO, SEGMENT_ID = "macro_segment", "micro_segment", "segment_id"


@dataclass
class HierarchicalSegments:
    """The macro model and one micro model per (non-empty) macro segment."""

    macro: Any
    micro: dict[int, Any] = field(default_factory=dict)
    features_col: str = "features"

    @property
    def n_micro(self) -> int:
        return sum(len(m.centroids) for m in self.micro.values())

    def segment_ids(self) -> list[str]:
        return [f"{m}.{j}" for m in sorted(self.micro) for j in range(len(self.micro[m].centroids))]

    def transform(self, df: DataFrame) -> DataFrame:
        """``df`` with macro_segment, micro_segment and segment_id ("m.j").

        One micro transform per macro segment over the macro-labelled rows; cache ``df``
        first when there are many macro segments.
        """
        macro = (self.macro.copy().setFeaturesCol(self.features_col)
                 .setPredictionCol(MACRO).setDistanceCol("").transform(df))
        parts = []
        for m, model in sorted(self.micro.items()):
            micro = (model.copy().setFeaturesCol(self.features_col)
                     .setPredictionCol(MICRO).setDistanceCol(""))
            parts.append(micro.transform(macro.where(F.col(MACRO) == m)))
        out = reduce(DataFrame.unionByName, parts)
        return out.withColumn(SEGMENT_ID, F.concat_ws(".", F.col(MACRO), F.col(MICRO)))


def fit_hierarchy(df: DataFrame, macro_k: int, micro_k: int, *, features_col: str = "features",
                  seed: int = 0, max_iter: int = 20, **kmeans_params: Any) -> HierarchicalSegments:
    """Fit macro_k macro segments and up to micro_k micro segments inside each."""
    from bigseg.spark import FaissKMeans

    for name, value in (("macro_k", macro_k), ("micro_k", micro_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} should be an int >= 1")
    macro = FaissKMeans(k=macro_k, seed=seed, maxIter=max_iter, featuresCol=features_col,
                        **kmeans_params).fit(df)
    # Cached once: every micro fit reads its macro segment's rows from it.
    labelled = macro.copy().setPredictionCol(MACRO).setDistanceCol("").transform(
        df.select(features_col)).persist(StorageLevel.MEMORY_AND_DISK)
    sizes = macro.summary.clusterSizes
    result = HierarchicalSegments(macro=macro, features_col=features_col)
    try:
        for m, size in enumerate(sizes):
            if size == 0:
                continue
            k = min(micro_k, int(size))
            rows = labelled.where(F.col(MACRO) == m).select(features_col)
            result.micro[m] = FaissKMeans(k=k, seed=seed, maxIter=max_iter,
                                          featuresCol=features_col, **kmeans_params).fit(rows)
            log.info("micro segments of macro %d: %d rows -> k=%d", m, size, k)
    finally:
        labelled.unpersist()
    return result
