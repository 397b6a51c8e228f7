"""Audience exports: customer ids with their segment and action, for a CRM to pick up.

One dataset per format under ``<path>/<format>/``, partitioned by ``audience`` (the
segment as a safe directory name), so a CRM reads one folder per segment:
``<path>/csv/audience=at_risk/part-*.csv``. The counts per segment come from one
aggregation and are written beside them as ``manifest.csv``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")


def audience_name(segment: object) -> str:
    """A segment as a directory name: "Can't Lose Them" -> "can_t_lose_them"."""
    return re.sub(r"[^a-z0-9]+", "_", str(segment).lower()).strip("_") or "blank"


@dataclass
class AudienceExport:
    """Where the audiences went, and one manifest row per segment."""

    path: Path
    manifest: pd.DataFrame
    paths: dict[str, Path]


def audience_table(df: DataFrame, segment_col: str, actions: Mapping[str, str],
                   default_action: str = "monitor", id_col: str = "customer_id") -> DataFrame:
    """customer_id, segment, action and audience (directory name) for every customer."""
    for col in (id_col, segment_col):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is not in the table; it has {df.columns}")
    seg = F.col(segment_col).cast("string")
    action = F.lit(default_action)
    if actions:
        mapping = F.create_map(*chain.from_iterable(
            (F.lit(str(k)), F.lit(v)) for k, v in actions.items()))
        action = F.coalesce(F.element_at(mapping, seg), F.lit(default_action))
    audience = F.lower(F.regexp_replace(seg, "[^A-Za-z0-9]+", "_"))
    audience = F.regexp_replace(audience, "^_+|_+$", "")
    return df.where(seg.isNotNull()).select(
        F.col(id_col).alias("customer_id"), seg.alias("segment"), action.alias("action"),
        audience.alias("audience"))


def export_audiences(df: DataFrame, segment_col: str, actions: Mapping[str, str],
                     path: str | Path, *, formats: Sequence[str] = FORMATS,
                     default_action: str = "monitor", id_col: str = "customer_id"
                     ) -> AudienceExport:
    """Write one audience per segment in every format; return the manifest."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"audience formats={list(formats)} should be a non-empty subset of "
                         f"{FORMATS}")
    root = Path(path)
    # Cached: every format and the manifest read the same rows.
    table = audience_table(df, segment_col, actions, default_action, id_col).persist(
        StorageLevel.MEMORY_AND_DISK)
    paths = {}
    try:
        for fmt in formats:
            out = root / fmt
            writer = table.write.mode("overwrite").partitionBy("audience")
            if fmt == "csv":
                writer.option("header", "true").csv(str(out))
            else:
                writer.parquet(str(out))
            paths[fmt] = out
        counts = table.groupBy("segment", "action", "audience").count().collect()
    finally:
        table.unpersist()
    manifest = pd.DataFrame([r.asDict() for r in counts],
                            columns=["segment", "action", "audience", "count"]
                            ).rename(columns={"count": "customers"}).sort_values("segment")
    root.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(root / "manifest.csv", index=False)
    log.info("audiences: %d segments, %d customers -> %s", len(manifest),
             int(manifest["customers"].sum()), root)
    return AudienceExport(path=root, manifest=manifest.reset_index(drop=True), paths=paths)
