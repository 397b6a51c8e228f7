"""Segment versions: commit protocol, immutability, stable ids across versions on shifted
data, migrations between them, promotion gates, and the comparison table."""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from tracking_toys import toy_metadata

from bigseg.config import PromotionGatesConfig
from bigseg.tracking import names
from bigseg.tracking.compare import compare
from bigseg.tracking.promotion import evaluate_gates, promote
from bigseg.tracking.publish import publish_segment_version
from bigseg.tracking.runs import tracked_run
from bigseg.tracking.versions import (
    STAGING,
    cleanup_staging,
    get_segment_version,
    list_segment_versions,
    model_root,
)

MODEL = "segments-test"
# Version 1: three segments; version 2: the same three shifted a little and listed in
# another order, plus a far new one.
C1 = np.array([[-1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0], [2.0, 0.0, -1.0, 1.0]])
C2 = np.vstack([C1[[2, 0, 1]] + 0.1, [[8.0, 1.0, 8.0, 8.0]]])


def predictions(spark, assignment):
    """customer -> centroid index, as a Spark model's transform would give them."""
    rows = [(c, i, 0.25) for c, i in assignment.items()]
    return spark.createDataFrame(rows, "customer_id long, prediction int, distance double")


# Version 1 (centroid index = segment id 0, 1, 2): 20 customers.
ASSIGN_1 = {c: (0 if c < 10 else 1 if c < 16 else 2) for c in range(20)}
# Version 2 centroid indexes: 0 = old segment 2, 1 = old 0, 2 = old 1, 3 = new.
# Customers 0-7 stay in old 0; 8-9 move to old 1; 10-15 stay in old 1; 16-17 stay in
# old 2; 18-19 move to the new segment; customer 20 is new.
ASSIGN_2 = {**{c: 1 for c in range(8)}, 8: 2, 9: 2, **{c: 2 for c in range(10, 16)},
            16: 0, 17: 0, 18: 3, 19: 3, 20: 1}


def publish(spark, store, artifacts, root, centroids, assignment, **kwargs):
    with tracked_run(store, "segments", "train", job="train",
                     artifact_location=artifacts) as run:
        run.log_quality({"silhouette": kwargs.pop("silhouette", 0.5)})
        return publish_segment_version(
            spark, run, predictions=predictions(spark, assignment), centroids=centroids,
            feature_metadata=toy_metadata(), model_name=MODEL, root=str(root),
            as_of="2025-01-01", match_max_distance=1.0, **kwargs)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "segments"


def test_two_versions_keep_ids_and_migrate_as_built(spark, store, artifacts, root, tmp_path):
    first = publish(spark, store, artifacts, root, C1, ASSIGN_1,
                    segment_names=["dormant", "loyal", "new"])
    v1 = first.version
    assert (v1.version, v1.rows, v1.sizes) == ("1", 20, {0: 10, 1: 6, 2: 4})
    assert v1.path == f"{model_root(str(root), MODEL)}/version=1" and os.path.isdir(v1.path)
    assert v1.aliases == ("challenger",)
    table = spark.read.parquet(v1.path)
    assert table.columns == ["customer_id", "segment_id", "segment_name", "distance", "as_of"]
    assert str(table.where("customer_id = 12").first()["as_of"]) == "2025-01-01"
    assert promote(mlflow.MlflowClient(store), MODEL, 1, PromotionGatesConfig()).passed

    second = publish(spark, store, artifacts, root, C2, ASSIGN_2,
                     segment_names=["a", "b", "c", "whales"])
    assert second.match.segment_ids == [2, 0, 1, 3]
    assert second.match.segment_names == ["new", "dormant", "loyal", "whales"]
    assert second.previous.version == "1"
    v2 = second.version
    assert v2.sizes == {0: 9, 1: 8, 2: 2, 3: 2} and v2.rows == 21
    ids = {r.customer_id: (r.segment_id, r.segment_name) for r in
           spark.read.parquet(v2.path).collect()}
    assert ids[16] == (2, "new") and ids[18] == (3, "whales") and ids[8] == (1, "loyal")

    client = mlflow.MlflowClient(store)
    gates = PromotionGatesConfig(min_stability_ari=0.3, min_segment_share=0.05)
    decision = promote(client, MODEL, 2, gates, spark=spark)
    m = decision.migration
    assert m.counts.loc[[0, 1, 2], [0, 1, 2, 3]].to_numpy().tolist() == [
        [8, 2, 0, 0], [0, 6, 0, 0], [0, 0, 2, 2]]
    assert (m.n_common, m.n_only_after) == (20, 1)
    assert decision.passed, decision.reasons
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[names.TAG_PROMOTION_PASSED] == "true"
    assert tags[f"{names.TAG_PROMOTION_GATE}min_stability_ari"].startswith("pass: ARI")

    result = compare(client, tmp_path / "compare", run_ids=[v1.run_id, v2.run_id],
                     model_name=MODEL, versions=[1, "champion"], spark=spark)
    versions = pd.read_csv(tmp_path / "compare" / "versions.csv")
    assert versions["version"].tolist() == [1, 2]
    assert versions["ari"].iloc[1] == pytest.approx(m.ari)
    assert versions["segments"].tolist() == [3, 4]
    runs = pd.read_csv(tmp_path / "compare" / "runs.csv")
    assert runs["segments/new"].tolist() == [3, 1]
    assert runs["segments/matched"].tolist() == [0, 3]
    assert (tmp_path / "compare" / "migrations" / "v1_v2_heatmap.png").exists()
    assert len(result.files) == 4


def test_failed_gates_are_recorded_and_champion_stays(spark, store, artifacts, root):
    publish(spark, store, artifacts, root, C1, ASSIGN_1)
    client = mlflow.MlflowClient(store)
    promote(client, MODEL, 1, PromotionGatesConfig())
    publish(spark, store, artifacts, root, C2, ASSIGN_2, silhouette=0.1)
    gates = PromotionGatesConfig(min_stability_ari=0.95, min_segment_share=0.2,
                                 min_metrics={"quality/silhouette": 0.3})
    decision = promote(client, MODEL, 2, gates, spark=spark)
    assert not decision.passed
    assert [g.gate for g in decision.gates if not g.passed] == [
        "min_stability_ari", "min_segment_share", "min_metric.quality/silhouette"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[names.TAG_PROMOTION_PASSED] == "false"
    assert "segments [2, 3] below 0.2" in tags[names.TAG_PROMOTION_REASONS]
    assert tags[f"{names.TAG_PROMOTION_GATE}min_metric.quality/silhouette"] == (
        "fail: quality/silhouette 0.1 < 0.3")


def test_failure_between_table_and_registration_leaves_no_version(
        spark, store, artifacts, root):
    staged = []

    def crash(path):
        staged.append(path)
        assert spark.read.parquet(path).count() == 20  # the table was written aside
        raise RuntimeError("killed before registering")

    with pytest.raises(RuntimeError, match="killed before registering"):
        publish(spark, store, artifacts, root, C1, ASSIGN_1, before_register=crash)
    client = mlflow.MlflowClient(store)
    assert client.search_model_versions(f"name = '{MODEL}'") == []
    assert list_segment_versions(client, MODEL) == []
    folder = model_root(str(root), MODEL)
    assert not os.path.exists(staged[0])
    assert [p for p in os.listdir(folder) if p != STAGING] == []
    # The next run commits version 1 as if nothing had happened.
    assert publish(spark, store, artifacts, root, C1, ASSIGN_1).version.version == "1"


def test_a_version_is_never_overwritten(spark, store, artifacts, root):
    folder = model_root(str(root), MODEL)
    os.makedirs(f"{folder}/version=1")
    (root / "segments-test" / "version=1" / "keep.txt").write_text("older data")
    with pytest.raises(FileExistsError, match="never overwritten"):
        publish(spark, store, artifacts, root, C1, ASSIGN_1)
    client = mlflow.MlflowClient(store)
    # The registered version was rolled back; the existing folder is untouched.
    assert list_segment_versions(client, MODEL) == []
    assert client.search_model_versions(f"name = '{MODEL}'") == []
    assert (root / "segments-test" / "version=1" / "keep.txt").read_text() == "older data"


def test_staging_left_by_a_killed_job_is_invisible_and_swept(spark, store, artifacts, root):
    killed = f"{model_root(str(root), MODEL)}/{STAGING}/dead"
    spark.range(3).write.parquet(killed)
    version = publish(spark, store, artifacts, root, C1, ASSIGN_1).version
    assert [v.version for v in list_segment_versions(mlflow.MlflowClient(store), MODEL)] == ["1"]
    assert version.rows == 20
    assert cleanup_staging(spark, str(root), MODEL) == [killed]


def test_a_pending_version_is_not_a_segment_version(store):
    client = mlflow.MlflowClient(store)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, "file:///nowhere",
                                tags={names.TAG_STATE: "pending"})
    assert list_segment_versions(client, MODEL) == []
    with pytest.raises(LookupError, match="not a committed segment version"):
        get_segment_version(client, MODEL, 1)
    with pytest.raises(LookupError, match="no version or alias 'champion'"):
        get_segment_version(client, MODEL, "champion")


@pytest.mark.parametrize("gates,shares,ari,metrics,failed", [
    (PromotionGatesConfig(), {0: 0.5, 1: 0.5}, None, {}, []),
    (PromotionGatesConfig(min_segment_share=0.3), {0: 0.8, 1: 0.2}, None, {},
     ["min_segment_share"]),
    (PromotionGatesConfig(max_segment_share=0.7), {0: 0.8, 1: 0.2}, None, {},
     ["max_segment_share"]),
    (PromotionGatesConfig(min_stability_ari=0.5), {0: 1.0}, None, {}, []),
    (PromotionGatesConfig(min_stability_ari=0.5), {0: 1.0}, 0.4, {}, ["min_stability_ari"]),
    (PromotionGatesConfig(min_metrics={"quality/x": 1.0}), {0: 1.0}, None, {},
     ["min_metric.quality/x"]),
])
def test_gates(gates, shares, ari, metrics, failed):
    results = evaluate_gates(gates, shares, ari, metrics)
    assert [r.gate for r in results if not r.passed] == failed


@pytest.mark.parametrize("gates,message", [
    (PromotionGatesConfig(min_stability_ari=1.5), r"min_stability_ari=1.5 should be within \[-1, 1\]"),
    (PromotionGatesConfig(min_segment_share=-0.1), r"min_segment_share=-0.1 should be within \[0, 1\]"),
])
def test_bad_gates_are_named(gates, message):
    with pytest.raises(ValueError, match=message):
        evaluate_gates(gates, {0: 1.0}, None, {})
