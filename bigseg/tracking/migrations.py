"""Migrations between two segment versions: who moved from which segment to which.

The matrix is one Spark join on ``customer_id`` and one ``groupBy(from, to).count()``:
only the k x k' counts reach the driver, whatever the number of customers. The adjusted
Rand index is computed from those counts (it depends on the contingency table only), so
it needs no second pass either.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bigseg.evaluation.stability import adjusted_rand_index
from bigseg.figures import save_png
from bigseg.tracking import names

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


@dataclass
class Migration:
    """Customers in both versions, by (segment before, segment after).

    ``counts``: rows = segment ids before, columns = segment ids after (every segment of
    both versions, zeros included). ``shares``: each row divided by its total (where the
    customers of a segment went). ``labels``: segment id -> name, per version.
    """

    counts: pd.DataFrame
    ari: float
    n_common: int
    n_only_before: int
    n_only_after: int
    labels_before: dict[int, str]
    labels_after: dict[int, str]

    @property
    def shares(self) -> pd.DataFrame:
        totals = self.counts.sum(axis=1).replace(0, np.nan)
        return self.counts.div(totals, axis=0).fillna(0.0)

    @property
    def stayed_share(self) -> float:
        """Share of common customers whose segment id is the same in both versions."""
        same = sum(int(self.counts.loc[i, i]) for i in self.counts.index
                   if i in self.counts.columns)
        return same / self.n_common if self.n_common else float("nan")

    def metrics(self) -> dict[str, float]:
        return {
            "ari": self.ari, "stayed_share": self.stayed_share,
            "n_common": self.n_common, "n_only_before": self.n_only_before,
            "n_only_after": self.n_only_after,
        }

    def long_table(self) -> pd.DataFrame:
        """One row per (before, after) pair with count and share."""
        counts = self.counts.stack().rename("count")
        shares = self.shares.stack().rename("share")
        table = pd.concat([counts, shares], axis=1).reset_index()
        table.columns = ["segment_before", "segment_after", "count", "share"]
        table["name_before"] = table["segment_before"].map(self.labels_before)
        table["name_after"] = table["segment_after"].map(self.labels_after)
        return table


def migration_matrix(
    before: DataFrame,
    after: DataFrame,
    key: str = "customer_id",
    segment: str = "segment_id",
    name: str | None = "segment_name",
) -> Migration:
    """Migration counts between two assignment tables (Spark DataFrames)."""
    from pyspark.sql import functions as F

    for label, df in (("before", before), ("after", after)):
        missing = [c for c in (key, segment) if c not in df.columns]
        if missing:
            raise ValueError(f"the {label} table lacks columns {missing}; it has {df.columns}")

    def side(df: DataFrame, label: str) -> DataFrame:
        named = F.col(name) if name and name in df.columns else F.col(segment).cast("string")
        return df.select(F.col(key).alias("k"), F.col(segment).alias(f"s_{label}"),
                         named.alias(f"n_{label}"))

    # One job: the join and the counts; names ride along, so no second pass for labels.
    grouped = (side(before, "before").join(side(after, "after"), "k", "full_outer")
               .groupBy("s_before", "n_before", "s_after", "n_after")
               .agg(F.count(F.lit(1)).alias("n")).collect())
    labels_before = {int(r["s_before"]): str(r["n_before"]) for r in grouped
                     if r["s_before"] is not None}
    labels_after = {int(r["s_after"]): str(r["n_after"]) for r in grouped
                    if r["s_after"] is not None}
    both = [(int(r["s_before"]), int(r["s_after"]), int(r["n"])) for r in grouped
            if r["s_before"] is not None and r["s_after"] is not None]
    only_before = sum(int(r["n"]) for r in grouped if r["s_after"] is None)
    only_after = sum(int(r["n"]) for r in grouped if r["s_before"] is None)
    index, columns = sorted(labels_before), sorted(labels_after)
    counts = pd.DataFrame(0, index=pd.Index(index, name="segment_before"),
                          columns=pd.Index(columns, name="segment_after"), dtype=np.int64)
    for s_before, s_after, n in both:
        counts.loc[s_before, s_after] += n
    return Migration(
        counts=counts, ari=adjusted_rand_index(counts.to_numpy()),
        n_common=int(counts.to_numpy().sum()), n_only_before=only_before,
        n_only_after=only_after, labels_before=labels_before, labels_after=labels_after,
    )


def heatmap(migration: Migration, path: str | Path, title: str = "segment migrations") -> Path:
    """A PNG heatmap of the shares (row = before), annotated with the counts."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a cluster
    import matplotlib.pyplot as plt

    shares = migration.shares
    k_before, k_after = shares.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * k_after, 1.0 + 0.6 * k_before), dpi=100)
    try:
        image = ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(k_after), [f"{i} {migration.labels_after.get(i, '')}"
                                       for i in shares.columns], rotation=45, ha="right")
        ax.set_yticks(range(k_before), [f"{i} {migration.labels_before.get(i, '')}"
                                        for i in shares.index])
        ax.set_xlabel("after")
        ax.set_ylabel("before")
        ax.set_title(f"{title} (ARI {migration.ari:.3f})")
        for r in range(k_before):
            for c in range(k_after):
                ax.text(c, r, str(int(migration.counts.iat[r, c])), ha="center",
                        va="center", fontsize=8,
                        color="white" if shares.iat[r, c] > 0.5 else "black")
        fig.colorbar(image, ax=ax, label="share of the row's customers")
    except BaseException:
        plt.close(fig)
        raise
    return save_png(fig, path)


def write_migration(migration: Migration, folder: str | Path, stem: str = "",
                    title: str = "segment migrations") -> dict[str, Path]:
    """``<stem>counts.csv``, ``shares.csv``, ``pairs.csv`` and ``heatmap.png`` in folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{stem}{name}.csv" for name in ("counts", "shares", "pairs")}
    migration.counts.to_csv(files["counts"])
    migration.shares.to_csv(files["shares"])
    migration.long_table().to_csv(files["pairs"], index=False)
    files["heatmap"] = heatmap(migration, folder / f"{stem}heatmap.png", title)
    return files


def log_migration(
    migration: Migration, client: Any, run_id: str, artifact_dir: str = "migrations",
    tag: str = "",
) -> dict[str, float]:
    """Counts and shares (CSV), the heatmap (PNG) and the metrics into ``run_id``.

    Metrics: ``migration/ari``, ``migration/stayed_share``, ``migration/n_common``, ...
    (``migration/<tag>.ari`` when a tag names the pair, e.g. ``v3_v4``).
    """
    from mlflow.entities import Metric

    prefix = f"{names.clean(tag)}." if tag else ""
    stem = f"{names.clean(tag)}_" if tag else ""
    with tempfile.TemporaryDirectory(prefix="bigseg-migration-") as tmp:
        folder = Path(tmp)
        write_migration(migration, folder, stem)
        client.log_artifacts(run_id, str(folder), artifact_dir)
    now = int(time.time() * 1000)
    metrics = {names.metric(names.MIGRATION, f"{prefix}{k}"): float(v)
               for k, v in migration.metrics().items() if np.isfinite(v)}
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    return metrics
