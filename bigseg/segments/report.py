"""A self-contained HTML report: every plot embedded as a base64 PNG, no external file,
script or font, so it opens in a browser with no network.

Sections (each only when its input is given): segment sizes and profiles with names and
actions, the lift heatmap, a 2-D projection of a sample coloured by segment, the
k-selection curves and the rule that chose k, the RFM grid, and the rule-set checks.

A small inline script marks the page once every image has decoded
(``<body data-images-ok="N" data-images-bad="M">``), which a headless browser reads back.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bigseg.segments import plots

log = logging.getLogger(__name__)

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; }
img { max-width: 100%; display: block; margin: 1em 0; }
.rule { background: #f6f6f6; padding: 0.5em; }
"""

_CHECK_IMAGES = """
window.addEventListener("load", function () {
  var ok = 0, bad = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } else { bad++; }
  }
  document.body.setAttribute("data-images-ok", String(ok));
  document.body.setAttribute("data-images-bad", String(bad));
});
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:,.3g}", border=0, escape=True)


def sample_for_projection(df: DataFrame, features_col: str, segment_col: str, n: int = 2000,
                          seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """At most ``n`` rows (features, segment) chosen by Spark, for the projection plot."""
    total = df.count()
    staged = df.select(features_col, F.col(segment_col).cast("string").alias("s"))
    if total > n:
        staged = staged.sample(fraction=min(1.0, 1.2 * n / total), seed=seed).limit(n)
    rows = staged.collect()
    X = np.array([np.asarray(r[features_col].toArray() if hasattr(r[features_col], "toArray")
                             else r[features_col], dtype=np.float64) for r in rows])
    return X, [r["s"] for r in rows]


def rfm_grid_counts(df: DataFrame, r: Any, fm: Any, segment_col: str
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers per (r, fm) cell and the segment each cell holds (one aggregation).

    ``r`` and ``fm`` are column names or Columns (e.g. the rule file's fm expression).
    """
    r_col = F.col(r) if isinstance(r, str) else r
    fm_col = F.col(fm) if isinstance(fm, str) else fm
    rows = (df.groupBy(r_col.cast("int").alias("r"), fm_col.cast("int").alias("fm"),
                       F.col(segment_col).alias("s")).count().collect())
    cells = pd.DataFrame([r.asDict() for r in rows], columns=["r", "fm", "s", "count"])
    counts = cells.pivot_table(index="r", columns="fm", values="count", aggfunc="sum",
                               fill_value=0)
    names = (cells.sort_values("count", ascending=False).drop_duplicates(["r", "fm"])
             .pivot(index="r", columns="fm", values="s").reindex_like(counts).fillna(""))
    return counts, names


def write_report(
    path: str | Path,
    *,
    title: str = "bigseg segments",
    profiles: Any = None,
    actions: Mapping[str, str] | None = None,
    sweep: Any = None,
    projection: tuple[np.ndarray, list[str]] | None = None,
    rfm: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    rule_checks: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report to ``path`` (an .html file) and return it."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if profiles is not None:
        table = profiles.table
        labels = [f"{s}: {n}" for s, n in table["name"].items()]
        summary = table[["name", "size", "share", "revenue_share", "top_features"]].copy()
        summary["top_features"] = summary["top_features"].map(", ".join)
        if actions:
            summary["action"] = [actions.get(str(s), "") for s in summary.index]
        parts += ["<h2>Segments</h2>", _table(summary),
                  _img(plots.segment_sizes(dict(zip(labels, table["size"], strict=True))),
                       "segment sizes"),
                  "<h2>Lift against the population</h2>",
                  _img(plots.lift_heatmap(profiles.lifts, labels), "lift heatmap"),
                  "<h3>Means and medians</h3>",
                  _table(table[[c for c in table.columns
                                if c.startswith(("mean_", "median_", "mix_"))]])]
    if projection is not None:
        X, labels = projection
        parts += ["<h2>Customers in two dimensions</h2>",
                  _img(plots.projection(X, labels), "2-D projection")]
    if sweep is not None:
        parts += ["<h2>Choosing k</h2>",
                  f'<p class="rule">Recommended k = {sweep.recommended_k}: '
                  f"{html.escape(sweep.rule)}.</p>",
                  _table(sweep.table.set_index("k")),
                  _img(plots.k_selection(sweep.table, sweep.recommended_k), "k selection")]
    if rfm is not None:
        counts, names = rfm
        parts += ["<h2>RFM grid</h2>", _img(plots.rfm_grid(counts, names), "RFM grid")]
    for name, check in (rule_checks or {}).items():
        parts += [f"<h2>Rule set: {html.escape(name)}</h2>",
                  f"<p>{html.escape(check.describe())}</p>", _table(check.table())]
        if check.sizes:
            parts.append(_img(plots.segment_sizes(check.sizes, title=name), f"{name} sizes"))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_CHECK_IMAGES}</script></head><body>{''.join(parts)}</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    log.info("report: %s (%d KiB)", out, len(page) // 1024)
    return out
