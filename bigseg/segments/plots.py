"""The report's figures, as PNG bytes (matplotlib, Agg backend: no display needed).

Every function takes small driver-side tables (profiles, the sweep table, a bounded
sample), never a Spark DataFrame.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def segment_sizes(sizes: Mapping[str, int], title: str = "segment sizes") -> bytes:
    """Horizontal bars: customers per segment, largest first."""
    items = sorted(sizes.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2))
    ax.barh([str(k) for k, _ in items], [v for _, v in items], color="#4477aa")
    ax.set_xlabel("customers")
    ax.set_title(title)
    return _png(fig)


def lift_heatmap(lifts: pd.DataFrame, labels: Sequence[str] | None = None,
                 title: str = "lift (index, 100 = average)") -> bytes:
    """Segments x features, coloured by log2 of the index so 50 and 200 look alike."""
    values = lifts.to_numpy(dtype=np.float64)
    shown = np.log2(np.clip(np.nan_to_num(values, nan=100.0), 1.0, None) / 100.0)
    fig, ax = plt.subplots(figsize=(0.9 * lifts.shape[1] + 3, 0.45 * lifts.shape[0] + 1.5))
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(range(lifts.shape[1]), [str(c) for c in lifts.columns], rotation=45,
                  ha="right")
    ax.set_yticks(range(lifts.shape[0]), list(labels) if labels else [str(i) for i in lifts.index])
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="log2(index / 100)")
    ax.set_title(title)
    return _png(fig)


def projection(X: np.ndarray, labels: Sequence, title: str = "2-D projection (PCA of a sample)"
               ) -> bytes:
    """First two principal components of a sample, coloured by segment."""
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    # SVD of the centred sample: its top right singular vectors are the principal axes.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred[:, :1], np.zeros(len(X))]
    labels = np.asarray([str(v) for v in labels])
    fig, ax = plt.subplots(figsize=(6, 5))
    for lab in sorted(set(labels)):
        keep = labels == lab
        ax.scatter(xy[keep, 0], xy[keep, 1], s=8, alpha=0.7, label=lab)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_title(title)
    return _png(fig)


def k_selection(table: pd.DataFrame, recommended_k: int | None = None) -> bytes:
    """Inertia, silhouette, Davies-Bouldin, Calinski-Harabasz and stability against k."""
    panels = [("inertia", "inertia (lower is tighter)"),
              ("silhouette", "silhouette (higher is better)"),
              ("davies_bouldin", "Davies-Bouldin (lower is better)"),
              ("calinski_harabasz", "Calinski-Harabasz (higher is better)"),
              ("stability_ari", "stability: ARI between seeds")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (col, label) in zip(axes, panels, strict=True):
        ax.plot(table["k"], table[col], marker="o")
        if recommended_k is not None:
            ax.axvline(recommended_k, color="grey", linestyle="--")
        ax.set_xlabel("k")
        ax.set_title(label, fontsize=9)
    return _png(fig)


def rfm_grid(counts: pd.DataFrame, names: pd.DataFrame | None = None,
             title: str = "RFM grid (customers per cell)") -> bytes:
    """Rows r (high at the top) x columns fm: customer counts, with segment names."""
    counts = counts.sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(1.6 * counts.shape[1] + 1.5, 1.0 * counts.shape[0] + 1))
    ax.imshow(counts.to_numpy(dtype=np.float64), cmap="Greens", aspect="auto")
    ax.set_xticks(range(counts.shape[1]), [f"fm={c}" for c in counts.columns])
    ax.set_yticks(range(counts.shape[0]), [f"r={r}" for r in counts.index])
    for i, r in enumerate(counts.index):
        for j, c in enumerate(counts.columns):
            name = "" if names is None else str(names.loc[r, c])
            ax.text(j, i, f"{name}\n{int(counts.loc[r, c])}", ha="center", va="center",
                    fontsize=7)
    ax.set_title(title)
    return _png(fig)
