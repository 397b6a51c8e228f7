"""Assignment of rows to centroids inside ``mapInArrow``: prediction and distance columns.

Nothing is collected: every partition's Arrow batches are searched where they are, and
the batches go back with two more columns. Invalid rows (null vector, wrong length,
NaN/inf, a zero vector with cosine distance) raise with ``handleInvalid="error"`` and get
a null prediction and distance with ``"skip"``, so no row is ever dropped by transform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bigseg.spark.arrow import classify

PREDICT_FEATURES = "__bigseg_predict_features"


@dataclass(frozen=True)
class PredictSpec:
    centroids: np.ndarray  # float32 (k, d), unit rows when spherical
    features_col: str  # the user's column name, for messages
    spherical: bool
    assignment: str
    backend: str
    handle_invalid: str
    prediction_col: str
    distance_col: str  # "" for no distance column
    task_cpus: int = 1
    backend_fallback: str = "cpu"  # see TrainSpec.backend_fallback
    k: int = 0  # centroids; for the assignment rule (training.fit_assignment)
    # The column holding array<float> vectors: the staged copy (dropped from the output)
    # or the user's own array<float> column (kept).
    input_col: str = PREDICT_FEATURES


def _describe_invalid(column: pa.Array, mask: np.ndarray, spec: PredictSpec, d: int) -> str:
    bad = np.flatnonzero(~mask)
    first = int(bad[0])
    value = column[first].as_py()
    shown = repr(value if value is None or len(value) <= 8 else [*value[:8], "..."])
    return (
        f"featuresCol {spec.features_col!r}: {bad.size} invalid row(s) in a batch of "
        f"{len(column)} (vectors must have {d} finite values"
        f"{', not all 0' if spec.spherical else ''}); first at batch row {first}: {shown}. "
        "Set handleInvalid='skip' to give such rows a null prediction."
    )


def build_predict_fn(
    spec: PredictSpec,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build, on the driver, the function executors run on each partition's batches.

    FAISS and the core are imported inside it, on the executor; the search structure
    over the centroids is built once per partition, on the backend that partition's
    task picks (its Spark GPU, or the CPU; see ``training.executor_backend``). With
    ``assignment="auto"`` a task on a GPU searches exactly, others by the core's rule.
    """

    def predict(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import faiss
        from pyspark import TaskContext

        from bigseg.kmeans.assign import make_assigner
        from bigseg.spark.training import executor_backend, fit_assignment

        faiss.omp_set_num_threads(max(1, spec.task_cpus))
        d = spec.centroids.shape[1]
        ctx = TaskContext.get()
        backend, choice = executor_backend(spec, ctx.partitionId() if ctx else 0, ctx)
        if choice is None:
            raise ValueError(f"transform on host {backend['host']}: {backend['error']}")
        assigner = make_assigner(
            spec.centroids,
            assignment=fit_assignment(spec, any_gpu=choice.on_gpu),
            backend=choice.backend,
            device=choice.device,
            spherical=spec.spherical,
        )
        staged = spec.input_col == PREDICT_FEATURES
        for batch in batches:
            idx = batch.schema.get_field_index(spec.input_col)
            column = batch.column(idx)
            mask, X, _ = classify(column, None, d, spec.spherical)
            all_valid = bool(mask.all())
            if not all_valid and spec.handle_invalid == "error":
                raise ValueError(_describe_invalid(column, mask, spec, d))
            if spec.spherical and X.shape[0]:
                X = np.ascontiguousarray(
                    (X / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)).astype(
                        np.float32
                    )
                )
            sqdist, labels = assigner.search(X)
            # sqdist is squared euclidean, or 2 - 2 cos on the unit sphere (cosine).
            dist = (
                sqdist.astype(np.float64) / 2.0
                if spec.spherical
                else np.sqrt(sqdist, dtype=np.float64)
            )
            if all_valid:
                pred_arr = pa.array(labels.astype(np.int32), pa.int32())
                dist_arr = pa.array(dist, pa.float64())
            else:
                pred_full = np.zeros(len(mask), dtype=np.int32)
                dist_full = np.zeros(len(mask), dtype=np.float64)
                pred_full[mask] = labels
                dist_full[mask] = dist
                pred_arr = pa.array(pred_full, pa.int32(), mask=~mask)
                dist_arr = pa.array(dist_full, pa.float64(), mask=~mask)
            drop = idx if staged else -1
            columns = [batch.column(i) for i in range(batch.num_columns) if i != drop]
            names = [n for i, n in enumerate(batch.schema.names) if i != drop]
            columns.append(pred_arr)
            names.append(spec.prediction_col)
            if spec.distance_col:
                columns.append(dist_arr)
                names.append(spec.distance_col)
            yield pa.RecordBatch.from_arrays(columns, names=names)

    return predict
