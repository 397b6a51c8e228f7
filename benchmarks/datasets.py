"""The points every k-means and scoring system of one run shares: generated once per
(n, d), written once as Parquet for the Spark systems, initial centroids once per k."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from benchmarks.bench_engine import make_blobs, write_parquet

log = logging.getLogger("bigseg.benchmarks.datasets")


class Datasets:
    """Blobs and their Parquet copies under ``folder``, cached for the run."""

    def __init__(self, folder: Path, *, blobs: int, seed: int, partitions: int) -> None:
        self.folder = Path(folder)
        self.blobs = blobs
        self.seed = seed
        self.partitions = partitions
        self._arrays: dict[tuple[int, int], np.ndarray] = {}
        self._paths: dict[tuple[int, int], str] = {}
        self._centroids: dict[tuple[int, int, int], np.ndarray] = {}

    def points(self, n: int, d: int) -> np.ndarray:
        if (n, d) not in self._arrays:
            log.info("generating %d x %d points (%d blobs)", n, d, self.blobs)
            self._arrays[(n, d)] = make_blobs(n, d, self.blobs, self.seed)
        return self._arrays[(n, d)]

    def parquet(self, n: int, d: int) -> str:
        if (n, d) not in self._paths:
            self._paths[(n, d)] = write_parquet(self.points(n, d),
                                                self.folder / f"blobs-{n}x{d}", self.partitions)
        return self._paths[(n, d)]

    def initial_centroids(self, n: int, d: int, k: int) -> np.ndarray:
        """The same k centroids for every system at this grid point: greedy k-means++
        (bigseg.kmeans.init) on a sample of the points, seeded by the grid point.

        Not k random rows: from those, clusters empty out within a few iterations (3 of
        64 at 100k x 32), and each system refills them its own way (FAISS splits a big
        cluster, scikit-learn takes far points, MLlib leaves them), so the inertias after
        a fixed number of iterations differed by up to 27% (max/min), not for speed.
        """
        from bigseg.kmeans.init import kmeans_plusplus

        if k > n:
            raise ValueError(f"k={k} should be <= n={n}: initial centroids are k of the points")
        key = (n, d, k)
        if key not in self._centroids:
            rng = np.random.default_rng([self.seed, n, d, k])
            X = self.points(n, d)
            size = min(n, max(50_000, 16 * k))
            sample = X[np.sort(rng.choice(n, size=size, replace=False))]
            self._centroids[key] = kmeans_plusplus(sample, k, seed=int(rng.integers(2**31)))
        return self._centroids[key].copy()
