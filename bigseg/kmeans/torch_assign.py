"""Exact nearest-centroid search with PyTorch: CUDA when available, else CPU.

torch is imported here only, and only when this backend is used, so bigseg runs without
it. On CPU the backend exists so that CI exercises the same code path the CUDA run takes.

Memory stays bounded for any k: points are processed in row chunks and centroids in
column chunks, so the distance tile never exceeds ``TILE_ELEMENTS`` floats on the CPU and
``CUDA_TILE_ELEMENTS`` on a GPU. ``device`` is ``"cpu"`` or ``"cuda:<ordinal>"`` (see
``bigseg.kmeans.gpu`` for ordinals and ``CUDA_VISIBLE_DEVICES``). Matrix products run in
full float32 (torch's default: no TF32), so labels match FAISS's up to float ties.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np

# 32M float32 = 128 MiB per distance tile: large enough for full-speed GEMMs, small
# enough for any GPU and for a Spark executor's memory.
TILE_ELEMENTS = 1 << 25
# 128M float32 = 512 MiB on a GPU: 2,048 rows per chunk at k=65,536, so each product is
# 17 GFLOP, well past launch overhead; still small beside the several Spark tasks that
# may share one GPU (spark.task.resource.gpu.amount < 1).
CUDA_TILE_ELEMENTS = 1 << 27
MAX_CENTROID_CHUNK = 1 << 16


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _tensor(torch, array: np.ndarray):
    """A tensor sharing ``array``'s memory, also for read-only arrays.

    Shards built zero-copy from Arrow buffers are read-only; torch warns about those
    because a tensor could write to them. This backend only reads its inputs.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


class TorchAssigner:
    """Exact L2 (or inner-product, when spherical) search with torch matrix products."""

    def __init__(self, n_features: int, *, spherical: bool = False, device: str | None = None):
        import torch

        self.torch = torch
        self.n_features = n_features
        self.spherical = spherical
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.n_clusters = 0
        self.centroids = None

    def update(self, centroids: np.ndarray) -> None:
        torch = self.torch
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.centroids = centroids
        self.n_clusters = centroids.shape[0]
        self._c = _tensor(torch, centroids).to(self.device)
        # ||c||^2 once per update: the per-point term ||x||^2 does not change the argmin
        # and is added back only for the winner.
        self._c_norm = (self._c * self._c).sum(dim=1)

    def search(self, X, out=None):
        torch = self.torch
        n = X.shape[0]
        if out is None:
            sqdist = np.empty(n, dtype=np.float32)
            labels = np.empty(n, dtype=np.int64)
        else:
            sqdist, labels = out
        if n == 0:
            return sqdist, labels
        k = self.n_clusters
        col_chunk = min(k, MAX_CENTROID_CHUNK)
        # read at call time (not only in __init__) so tests can shrink the tiles
        tile = TILE_ELEMENTS if self.device.type == "cpu" else CUDA_TILE_ELEMENTS
        row_chunk = max(256, tile // col_chunk)
        with torch.inference_mode():
            for start in range(0, n, row_chunk):
                stop = min(n, start + row_chunk)
                x = _tensor(torch, X[start:stop]).to(self.device)
                best_d, best_i = self._search_chunk(x, col_chunk)
                sqdist[start:stop] = best_d.cpu().numpy()
                labels[start:stop] = best_i.cpu().numpy()
        np.maximum(sqdist, 0.0, out=sqdist)
        return sqdist, labels

    def _search_chunk(self, x, col_chunk):
        torch = self.torch
        k = self.n_clusters
        best_d = best_i = None
        for c0 in range(0, k, col_chunk):
            c1 = min(k, c0 + col_chunk)
            if self.spherical:
                # unit vectors: ||x - c||^2 = 2 - 2 <x, c>
                val, idx = torch.max(x @ self._c[c0:c1].T, dim=1)
                d = 2.0 - 2.0 * val
            else:
                # ||c||^2 - 2 <x, c>: the argmin of the full distance, written by one
                # product (alpha=-2 scales exactly) instead of a product and two passes
                tile = torch.addmm(self._c_norm[c0:c1], x, self._c[c0:c1].T, alpha=-2.0)
                d, idx = torch.min(tile, dim=1)
            idx = idx + c0
            if best_d is None:
                best_d, best_i = d, idx
            else:
                # strict "<" keeps the lower centroid index on ties, as FAISS does
                better = d < best_d
                best_d = torch.where(better, d, best_d)
                best_i = torch.where(better, idx, best_i)
        if not self.spherical:
            best_d = best_d + (x * x).sum(dim=1)
        return best_d.float(), best_i.long()
