"""The segment model as an MLflow pyfunc, logged as code (MLflow "models from code").

MLflow copies this file into the model and runs it at load time; nothing is unpickled
(MLflow 3 refuses pickled PythonModels by default). Its only companion is
``segment_transform.py``, shipped in the model's ``code/`` folder, so a model loads
wherever numpy, pandas and MLflow are installed, bigseg or not.

``load_context`` reads everything from ``context.artifacts``: ``centroids.npy`` (k x d
float32), ``scaler.npy`` (3 x d: centre, scale, weight of the vector's features),
``feature_metadata.json`` and ``segments.json`` (ids, names, distance measure).
``predict`` takes the raw feature columns and returns ``segment_id``, ``segment_name``
and ``distance`` per row.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

try:  # inside a logged model: the copy of the transform shipped with it (code/)
    import segment_transform as _transform
except ImportError:  # imported as part of the bigseg package
    from bigseg.tracking import segment_transform as _transform

ARTIFACT_CENTROIDS = "centroids"
ARTIFACT_SCALER = "scaler"
ARTIFACT_FEATURES = "feature_metadata"
ARTIFACT_SEGMENTS = "segments"


class SegmentModel(PythonModel):
    """Nearest-centroid segments of customers given as raw feature columns."""

    def load_context(self, context: Any) -> None:
        artifacts = context.artifacts
        # allow_pickle=False: an .npy holding objects fails instead of running code.
        self.centroids = np.load(artifacts[ARTIFACT_CENTROIDS], allow_pickle=False)
        scaler = np.load(artifacts[ARTIFACT_SCALER], allow_pickle=False)
        with open(artifacts[ARTIFACT_FEATURES]) as fh:
            self.metadata = json.load(fh)
        with open(artifacts[ARTIFACT_SEGMENTS]) as fh:
            segments = json.load(fh)
        self.segment_ids = [int(i) for i in segments["ids"]]
        self.segment_names = [str(n) for n in segments["names"]]
        self.spherical = segments.get("distance_measure", "euclidean") == "cosine"
        # The scaler arrays are the numbers used; the JSON copy documents them.
        vector = [e for e in self.metadata["features"] if e.get("in_vector")]
        if scaler.shape != (3, len(vector)):
            raise ValueError(
                f"scaler.npy has shape {scaler.shape}; expected (3, {len(vector)}) for the "
                f"{len(vector)} vector features"
            )
        for j, entry in enumerate(vector):
            entry["scale"] = {**(entry.get("scale") or {}), "center": float(scaler[0, j]),
                              "scale": float(scaler[1, j])}
            entry["weight"] = float(scaler[2, j])
        d = self.centroids.shape[1]
        expected = (self.metadata.get("pca") or {}).get("k") or len(vector)
        if d != expected or len(self.segment_ids) != self.centroids.shape[0]:
            raise ValueError(
                f"centroids {self.centroids.shape} do not match {expected} features and "
                f"{len(self.segment_ids)} segments"
            )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
            model_input)
        return _transform.assign_frame(
            frame, self.metadata, self.centroids, self.segment_ids, self.segment_names,
            self.spherical,
        )


if not __name__.startswith("bigseg."):
    # Run as a model file by MLflow (not imported from the package): declare the model.
    mlflow.models.set_model(SegmentModel())
