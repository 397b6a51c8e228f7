"""Migrations between two assignment tables: exact counts on a hand-built case, ARI as
scikit-learn computes it, a heatmap, and the MLflow record."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from bigseg.tracking.migrations import adjusted_rand_index, log_migration, migration_matrix
from bigseg.tracking.runs import tracked_run

# customer: (segment before, segment after); 8 only before, 9 only after.
BEFORE = {1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2}
AFTER = {1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1, 7: 3, 9: 3}
NAMES = {0: "dormant", 1: "loyal", 2: "new", 3: "whales"}


def table(spark, assignment):
    return spark.createDataFrame(
        [(c, s, NAMES[s], 0.5) for c, s in assignment.items()],
        "customer_id long, segment_id long, segment_name string, distance double")


def test_hand_built_migration(spark, tmp_path):
    m = migration_matrix(table(spark, BEFORE), table(spark, AFTER))
    assert m.counts.index.tolist() == [0, 1, 2]
    assert m.counts.columns.tolist() == [0, 1, 3]
    assert m.counts.to_numpy().tolist() == [[2, 1, 0], [0, 2, 0], [0, 1, 1]]
    assert (m.n_common, m.n_only_before, m.n_only_after) == (7, 1, 1)
    np.testing.assert_allclose(m.shares.loc[0].to_numpy(), [2 / 3, 1 / 3, 0.0])
    assert m.stayed_share == pytest.approx(4 / 7)
    common = sorted(set(BEFORE) & set(AFTER))
    assert m.ari == pytest.approx(adjusted_rand_score([BEFORE[c] for c in common],
                                                      [AFTER[c] for c in common]))
    assert m.labels_after[3] == "whales"
    pairs = m.long_table()
    row = pairs[(pairs.segment_before == 2) & (pairs.segment_after == 3)].iloc[0]
    assert (row["count"], row["name_before"], row["name_after"]) == (1, "new", "whales")


def test_migration_is_logged(spark, store, artifacts):
    m = migration_matrix(table(spark, BEFORE), table(spark, AFTER))
    with tracked_run(store, "migrations", artifact_location=artifacts) as run:
        metrics = log_migration(m, run.client, run.run_id, tag="v1_v2")
    client = mlflow.MlflowClient(store)
    assert client.get_run(run.run_id).data.metrics["migration/v1_v2.ari"] == pytest.approx(m.ari)
    assert metrics["migration/v1_v2.n_common"] == 7
    files = {a.path for a in client.list_artifacts(run.run_id, "migrations")}
    assert {"migrations/v1_v2_counts.csv", "migrations/v1_v2_heatmap.png"} <= files
    png = mlflow.artifacts.download_artifacts(run_id=run.run_id, tracking_uri=store,
                                              artifact_path="migrations/v1_v2_heatmap.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("seed", range(5))
def test_ari_from_counts_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 3, 200)
    counts = np.zeros((4, 3))
    np.add.at(counts, (a, b), 1)
    assert adjusted_rand_index(counts) == pytest.approx(adjusted_rand_score(a, b))


def test_ari_degenerate_cases():
    assert adjusted_rand_index(np.array([[5]])) == 1.0
    assert adjusted_rand_index(np.eye(3)) == 1.0


def test_missing_columns_are_named(spark):
    df = spark.createDataFrame([(1, 0)], "id long, segment_id long")
    with pytest.raises(ValueError, match=r"before table lacks columns \['customer_id'\]"):
        migration_matrix(df, df)
