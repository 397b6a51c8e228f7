"""Writing a matplotlib figure to a PNG file: the one way every plot of bigseg is saved."""

from __future__ import annotations

from pathlib import Path


def save_png(fig, path: str | Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` (parents created) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
