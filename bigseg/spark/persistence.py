"""Save / load of FaissKMeansModel: Params as Spark ML JSON metadata, centroids as Parquet.

Layout under the model path (the same as MLlib's KMeansModel, so the usual tooling can
read it):

``metadata/``  one JSON line (``DefaultParamsWriter``): class, uid, Spark version, every
               param, plus ``k``, ``numFeatures`` and ``format``
``data/``      Parquet rows ``(cluster int, center array<float>)``, one per centroid

No pickle anywhere: loading reads JSON and float arrays, nothing executable. Paths go
through Spark, so HDFS / S3 / ABFS paths work like local ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter

if TYPE_CHECKING:
    from bigseg.spark.model import FaissKMeansModel

FORMAT = "bigseg-faiss-kmeans-v1"


def _data_path(path: str) -> str:
    return path.rstrip("/") + "/data"


class FaissKMeansModelWriter(MLWriter):
    """Writes the metadata JSON and the centroids."""

    def __init__(self, instance: FaissKMeansModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        centroids = self.instance.centroids
        k, d = centroids.shape
        DefaultParamsWriter.saveMetadata(
            self.instance,
            path,
            self.sparkSession,
            extraMetadata={"k": int(k), "numFeatures": int(d), "format": FORMAT},
        )
        flat = pa.array(np.ascontiguousarray(centroids, dtype=np.float32).reshape(-1), pa.float32())
        offsets = pa.array(np.arange(0, k * d + 1, d, dtype=np.int32), pa.int32())
        table = pa.table(
            {
                "cluster": pa.array(np.arange(k, dtype=np.int32), pa.int32()),
                "center": pa.ListArray.from_arrays(offsets, flat),
            }
        )
        self.sparkSession.createDataFrame(table).coalesce(1).write.parquet(_data_path(path))


class FaissKMeansModelReader(MLReader):
    """Reads what FaissKMeansModelWriter wrote; checks the format and the shape."""

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        if metadata.get("format") != FORMAT:
            raise ValueError(
                f"{path} does not hold a FaissKMeansModel (format {metadata.get('format')!r}, "
                f"expected {FORMAT!r})."
            )
        k, d = int(metadata["k"]), int(metadata["numFeatures"])
        table = self.sparkSession.read.parquet(_data_path(path)).toArrow()
        table = table.sort_by("cluster")
        clusters = table.column("cluster").to_numpy()
        if clusters.tolist() != list(range(k)):
            raise ValueError(f"{path}: centroid rows are not clusters 0..{k - 1}.")
        centers = table.column("center").combine_chunks()
        values = centers.flatten().to_numpy(zero_copy_only=False)
        if values.size != k * d:
            raise ValueError(f"{path}: expected {k} x {d} centroid values, found {values.size}.")
        model = self.cls(values.reshape(k, d))
        DefaultParamsReader.getAndSetParams(model, metadata)
        model._resetUid(metadata["uid"])
        return model
