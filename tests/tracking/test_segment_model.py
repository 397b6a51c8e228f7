"""The segment model end to end against a real `mlflow server`: FaissKMeans on Spark,
published as a version, promoted, loaded by alias in a fresh process (no bigseg import
needed there), predicting the Spark model's segments from raw feature columns."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from tracking_toys import RAW_COLUMNS, spark_features, toy_customers, toy_metadata

from bigseg.config import PromotionGatesConfig
from bigseg.tracking.promotion import promote
from bigseg.tracking.publish import publish_segment_version
from bigseg.tracking.runs import tracked_run
from bigseg.tracking.segment_model import SegmentModelSpec, load_segment_spec, log_segment_model

LOAD_AND_PREDICT = textwrap.dedent("""
    import json, sys
    import mlflow, pandas as pd
    uri, model_uri, data, out = sys.argv[1:5]
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.read_parquet(data)
    pred = model.predict(frame.drop(columns=["customer_id"]))
    pred.insert(0, "customer_id", frame["customer_id"].to_numpy())
    pred.to_parquet(out)
    json.dump({"bigseg_imported": any(m.split(".")[0] == "bigseg" for m in sys.modules),
               "input_columns": model.metadata.get_input_schema().input_names()},
              open(out + ".json", "w"))
""")


def test_champion_loads_in_a_fresh_process_and_predicts_like_spark(
        spark, mlflow_server, tmp_path):
    from bigseg.spark import FaissKMeans

    frame, _ = toy_customers(n=300)
    metadata = toy_metadata()
    features = spark_features(spark, frame, metadata).coalesce(1)
    model = FaissKMeans(k=3, seed=1, maxIter=10).fit(features)
    predictions = model.transform(features)
    name = f"segments-{uuid.uuid4().hex[:8]}"
    with tracked_run(mlflow_server, f"e2e-{name}", "train", job="train") as run:
        run.log_history(model.summary.history)
        published = publish_segment_version(
            spark, run, predictions=predictions, centroids=model.centroids,
            feature_metadata=metadata, model_name=name, root=str(tmp_path / "segments"),
            as_of="2025-01-01", segment_names=["a", "b", "c"])
    client = mlflow.MlflowClient(mlflow_server)
    assert promote(client, name, published.version.version, PromotionGatesConfig()).passed

    data = tmp_path / "customers.parquet"
    frame.to_parquet(data)  # raw columns, missing values included
    out = tmp_path / "predicted.parquet"
    subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, mlflow_server,
                    f"models:/{name}@champion", str(data), str(out)],
                   check=True, timeout=180, cwd=tmp_path)
    got = pd.read_parquet(out).sort_values("customer_id").reset_index(drop=True)
    info = json.loads(Path(f"{out}.json").read_text())
    assert info == {"bigseg_imported": False,
                    "input_columns": [*RAW_COLUMNS, "revenue_365d_missing"]}

    spark_rows = predictions.select("customer_id", "prediction", "distance").toPandas()
    spark_rows = spark_rows.sort_values("customer_id").reset_index(drop=True)
    ids = np.asarray(published.match.segment_ids)[spark_rows["prediction"]]
    assert got["segment_id"].tolist() == ids.tolist()
    names = np.asarray(published.match.segment_names)[spark_rows["prediction"]]
    assert got["segment_name"].tolist() == names.tolist()
    np.testing.assert_allclose(got["distance"], spark_rows["distance"], rtol=1e-5, atol=1e-6)
    # The committed table holds the same segments.
    table = published.version.read(spark).toPandas().sort_values("customer_id")
    assert table["segment_id"].tolist() == ids.tolist()

    # The model is arrays and JSON: nothing pickled.
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion",
                                                     tracking_uri=mlflow_server))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert {"artifacts/centroids.npy", "artifacts/scaler.npy",
            "artifacts/feature_metadata.json", "artifacts/segments.json",
            "code/segment_transform.py", "segment_pyfunc.py", "input_example.json"} <= files
    assert not [f for f in files if f.startswith("code/") and f != "code/segment_transform.py"]
    spec = load_segment_spec(f"models:/{name}@champion")
    np.testing.assert_array_equal(spec.centroids, model.centroids)


def test_imputed_rows_with_their_indicator_predict_like_raw_rows(store, artifacts):
    frame, _ = toy_customers(n=60)
    raw = frame[RAW_COLUMNS]
    imputed = raw.assign(revenue_365d_missing=raw["revenue_365d"].isna().astype(float),
                         revenue_365d=raw["revenue_365d"].fillna(120.0),
                         email_open_rate=raw["email_open_rate"].fillna(0.2))
    spec = SegmentModelSpec(np.array([[-1.0, 0, -1, -1], [0, 1, 0, 0], [1, 0, 1, 1]]),
                            toy_metadata(), [5, 6, 7], ["low", "missing", "high"])
    with tracked_run(store, "imputed", artifact_location=artifacts):
        info = log_segment_model(spec)
    model = mlflow.pyfunc.load_model(info.model_uri)
    from_raw, from_imputed = model.predict(raw), model.predict(imputed)
    pd.testing.assert_frame_equal(from_raw, from_imputed)
    pd.testing.assert_frame_equal(from_raw, spec.predict(raw))
    assert (from_raw["segment_name"] == "missing").sum() > 0


@pytest.mark.parametrize("change,message", [
    ({"centroids": np.zeros((3, 2))}, "centroids have 2 columns; the feature metadata describes 4"),
    ({"segment_ids": [0, 1]}, "segment_ids has 2 entries; there are 3 centroids"),
    ({"segment_ids": [0, 0, 1]}, r"segment_ids=\[0, 0, 1\] should be distinct"),
    ({"segment_names": ["a"]}, "segment_names has 1 entries"),
    ({"distance_measure": "manhattan"}, "distance_measure='manhattan' should be one of"),
    ({"centroids": np.full((3, 4), np.nan)}, "centroids should all be finite"),
    ({"feature_metadata": [1, 2]}, "feature metadata of type list should be"),
])
def test_bad_model_specs_are_named(change, message):
    args = {"centroids": np.zeros((3, 4)), "feature_metadata": toy_metadata(),
            "segment_ids": [0, 1, 2], "segment_names": ["a", "b", "c"], **change}
    with pytest.raises((ValueError, TypeError), match=message):
        SegmentModelSpec(**args)
