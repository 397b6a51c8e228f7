"""The effect table as a picture: absolute lift per segment with its interval bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bigseg.figures import save_png

COLOURS = {"positive": "tab:green", "negative": "tab:red",
           "not significant": "tab:gray", "insufficient": "lightgray"}


def plot_lifts(table: pd.DataFrame, path: str | Path, alpha: float = 0.05) -> Path:
    """A PNG with one panel per campaign: lift (treated - control) per segment, the
    interval as a bar, coloured by status; insufficient segments hollow."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a cluster
    import matplotlib.pyplot as plt

    campaigns = list(dict.fromkeys(table["campaign_id"]))
    n_rows = max(len(table[table["campaign_id"] == c]) for c in campaigns)
    fig, axes = plt.subplots(1, len(campaigns), squeeze=False, sharey=False,
                             figsize=(4.5 * len(campaigns), 1.0 + 0.45 * n_rows), dpi=100)
    try:
        for ax, campaign in zip(axes[0], campaigns, strict=True):
            rows = table[table["campaign_id"] == campaign].reset_index(drop=True)
            y = np.arange(len(rows))[::-1]
            for yi, r in zip(y, rows.itertuples(index=False), strict=True):
                colour = COLOURS.get(r.status, "black")
                err = [[max(r.lift_abs - r.lift_lo, 0.0)], [max(r.lift_hi - r.lift_abs, 0.0)]]
                ax.errorbar([r.lift_abs], [yi], xerr=err, fmt="o", color=colour, capsize=3,
                            mfc="white" if r.status == "insufficient" else colour)
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_yticks(y, [f"{r.segment_name} (n={r.n_treated}+{r.n_control})"
                              for r in rows.itertuples(index=False)], fontsize=8)
            ax.set_xlabel(f"lift in response rate ({1 - alpha:.0%} interval)")
            ax.set_title(str(campaign))
    except BaseException:
        plt.close(fig)
        raise
    return save_png(fig, path)
