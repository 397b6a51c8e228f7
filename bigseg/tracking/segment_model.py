"""Log a segment model: arrays and JSON for the pyfunc in ``segment_pyfunc.py``.

The model is centroids (``.npy``), scaler statistics (``.npy``), the feature metadata,
segment ids and names, and optional rule tables (JSON): no pickled object, no stored code
beyond bigseg's two pyfunc files (the model file and ``segment_transform.py``). It has a
signature (raw feature columns in; ``segment_id``, ``segment_name``, ``distance`` out)
and an input example built from the fitted impute values, so no customer's data is
stored in the model.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bigseg.tracking import segment_pyfunc, segment_transform

log = logging.getLogger(__name__)

MODEL_NAME = "segment_model"
DISTANCES = ("euclidean", "cosine")
_HERE = Path(__file__).resolve().parent
MODEL_FILE = _HERE / "segment_pyfunc.py"
CODE_FILES = (_HERE / "segment_transform.py",)


def _real_files(paths: tuple[Path, ...], folder: str) -> list[str]:
    """``paths`` as files MLflow can copy: bigseg imported from a zip (spark-submit
    --py-files puts it first on the driver's path too) has none, so they are written
    out from the package data into ``folder``."""
    import pkgutil

    out = []
    for path in paths:
        if path.is_file():
            out.append(str(path))
            continue
        data = pkgutil.get_data(__package__, path.name)
        if data is None:  # pragma: no cover - the files ship with the package
            raise FileNotFoundError(f"{path.name} is missing from the bigseg package")
        target = Path(folder) / path.name
        target.write_bytes(data)
        out.append(str(target))
    return out


def metadata_dict(metadata: Any) -> dict[str, Any]:
    """A FeatureMetadata (anything with ``to_json``) or a dict, as a plain dict."""
    if hasattr(metadata, "to_json"):
        return json.loads(metadata.to_json())
    if isinstance(metadata, Mapping):
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    raise TypeError(
        f"feature metadata of type {type(metadata).__name__} should be a FeatureMetadata "
        f"or a dict"
    )


@dataclass
class SegmentModelSpec:
    """What a segment model holds; centroid row i is the segment ``segment_ids[i]``."""

    centroids: np.ndarray
    feature_metadata: dict[str, Any]
    segment_ids: list[int]
    segment_names: list[str]
    distance_measure: str = "euclidean"
    rules: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.feature_metadata = metadata_dict(self.feature_metadata)
        self.centroids = np.ascontiguousarray(self.centroids, dtype=np.float32)
        self.segment_ids = [int(i) for i in self.segment_ids]
        self.segment_names = [str(n) for n in self.segment_names]
        k = self.centroids.shape[0] if self.centroids.ndim == 2 else -1
        vector = segment_transform.vector_entries(self.feature_metadata)
        d = (self.feature_metadata.get("pca") or {}).get("k") or len(vector)
        rules = [
            (self.centroids.ndim == 2 and k >= 1,
             f"centroids of shape {self.centroids.shape} should be a (k, d) matrix"),
            (self.centroids.ndim != 2 or self.centroids.shape[1] == d,
             f"centroids have {self.centroids.shape[-1]} columns; the feature metadata "
             f"describes {d}"),
            (bool(np.isfinite(self.centroids).all()), "centroids should all be finite"),
            (len(self.segment_ids) == k,
             f"segment_ids has {len(self.segment_ids)} entries; there are {k} centroids"),
            (len(self.segment_names) == k,
             f"segment_names has {len(self.segment_names)} entries; there are {k} centroids"),
            (len(set(self.segment_ids)) == len(self.segment_ids),
             f"segment_ids={self.segment_ids} should be distinct"),
            (self.distance_measure in DISTANCES,
             f"distance_measure={self.distance_measure!r} should be one of {DISTANCES}"),
        ]
        for ok, message in rules:
            if not ok:
                raise ValueError(message)

    @property
    def input_columns(self) -> list[str]:
        return segment_transform.input_columns(self.feature_metadata)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the logged model predicts, computed here (numpy, no MLflow)."""
        return segment_transform.assign_frame(
            frame, self.feature_metadata, self.centroids, self.segment_ids,
            self.segment_names, self.distance_measure == "cosine",
        )


def write_artifacts(spec: SegmentModelSpec, folder: str | Path) -> dict[str, str]:
    """Write the model's arrays and JSON into ``folder``; returns MLflow's artifacts map."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vector = segment_transform.vector_entries(spec.feature_metadata)
    scaler = np.array(
        [[(e.get("scale") or {}).get("center", 0.0) for e in vector],
         [(e.get("scale") or {}).get("scale", 1.0) for e in vector],
         [e.get("weight", 1.0) for e in vector]],
        dtype=np.float64,
    ).reshape(3, len(vector))
    paths = {
        segment_pyfunc.ARTIFACT_CENTROIDS: folder / "centroids.npy",
        segment_pyfunc.ARTIFACT_SCALER: folder / "scaler.npy",
        segment_pyfunc.ARTIFACT_FEATURES: folder / "feature_metadata.json",
        segment_pyfunc.ARTIFACT_SEGMENTS: folder / "segments.json",
    }
    np.save(paths["centroids"], spec.centroids, allow_pickle=False)
    np.save(paths["scaler"], scaler, allow_pickle=False)
    paths["feature_metadata"].write_text(
        json.dumps(spec.feature_metadata, indent=2, sort_keys=True, allow_nan=False))
    paths["segments"].write_text(json.dumps({
        "ids": spec.segment_ids, "names": spec.segment_names,
        "distance_measure": spec.distance_measure, "input_columns": spec.input_columns,
        **spec.extra,
    }, indent=2, sort_keys=True))
    if spec.rules is not None:
        paths["rules"] = folder / "rules.json"
        paths["rules"].write_text(json.dumps(spec.rules, indent=2, sort_keys=True))
    return {name: str(path) for name, path in paths.items()}


def signature(spec: SegmentModelSpec):
    """Raw feature columns (double, may be missing; integer columns must be cast, as
    MLflow refuses int64 -> double) in; segment id, name, distance out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    # Indicators are in the signature too: MLflow drops input columns it does not list,
    # and an imputed row without its indicator would get the wrong vector.
    columns = spec.input_columns + segment_transform.indicator_columns(spec.feature_metadata)
    inputs = Schema([ColSpec("double", c, required=False) for c in columns])
    outputs = Schema([
        ColSpec("long", segment_transform.SEGMENT_ID),
        ColSpec("string", segment_transform.SEGMENT_NAME),
        ColSpec("double", segment_transform.DISTANCE),
    ])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(spec: SegmentModelSpec) -> pd.DataFrame:
    """One row of fitted impute values (0 where there is none): no customer data."""
    by_name = {e["name"]: e for e in spec.feature_metadata["features"]}
    row = {}
    for c in spec.input_columns:
        value = ((by_name.get(c) or {}).get("impute") or {}).get("value")
        row[c] = float(value) if value is not None else 0.0
    return pd.DataFrame([row])


def requirements() -> list[str]:
    """Pinned to this environment; given explicitly so MLflow does not infer them (a
    subprocess that imports the model, seconds per log)."""
    from importlib.metadata import version

    return [f"mlflow=={version('mlflow')}", f"numpy=={version('numpy')}",
            f"pandas=={version('pandas')}"]


def log_segment_model(
    spec: SegmentModelSpec,
    name: str = MODEL_NAME,
    example: pd.DataFrame | None = None,
    tags: Mapping[str, str] | None = None,
):
    """Log ``spec`` as a pyfunc model in the active run; returns MLflow's ModelInfo."""
    import mlflow

    if mlflow.active_run() is None:
        raise RuntimeError("log_segment_model needs an active MLflow run (use tracked_run)")
    with tempfile.TemporaryDirectory(prefix="bigseg-model-") as tmp, \
            tempfile.TemporaryDirectory(prefix="bigseg-code-") as code:
        artifacts = write_artifacts(spec, tmp)
        model_file, *code_files = _real_files((MODEL_FILE, *CODE_FILES), code)
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=model_file,
            artifacts=artifacts,
            code_paths=code_files,
            signature=signature(spec),
            input_example=example if example is not None else input_example(spec),
            pip_requirements=requirements(),
            tags=dict(tags or {}) or None,
        )
    log.info("logged segment model %s (%d segments, %d features)", info.model_uri,
             len(spec.segment_ids), spec.centroids.shape[1])
    return info


def load_segment_spec(model_uri: str) -> SegmentModelSpec:
    """The arrays and JSON of a logged segment model (``models:/name/3``, ``runs:/...``),
    read as data: nothing of the model is executed."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    folder = local / "artifacts"
    segments = json.loads((folder / "segments.json").read_text())
    rules_file = folder / "rules.json"
    return SegmentModelSpec(
        centroids=np.load(folder / "centroids.npy", allow_pickle=False),
        feature_metadata=json.loads((folder / "feature_metadata.json").read_text()),
        segment_ids=segments["ids"],
        segment_names=segments["names"],
        distance_measure=segments.get("distance_measure", "euclidean"),
        rules=json.loads(rules_file.read_text()) if rules_file.exists() else None,
    )
