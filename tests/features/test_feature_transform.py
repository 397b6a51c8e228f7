"""Transforms: fitted statistics, the metadata JSON, and applying it to new customers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shop_data import SHOP_CONFIG, only_customers, shop_tables

from bigseg.config import FeaturesConfig
from bigseg.features import transform
from bigseg.features.build import build_features, check_config, resolve_as_of
from bigseg.features.transform import FeatureMetadata


def test_vector_is_the_documented_transform_of_the_named_columns(shop_build):
    fs, rows = shop_build
    meta = fs.metadata
    names = meta.vector_names
    assert len(rows["C1"]["features"]) == len(names)
    for cid, row in rows.items():
        for i, name in enumerate(names):
            entry = meta.feature(name)
            x = row[name]
            if entry["log1p"]:
                x = math.log1p(max(x, 0.0))
            s = entry["scale"]
            expected = (x - s["center"]) / s["scale"] * entry["weight"]
            assert row["features"][i] == pytest.approx(expected, rel=1e-5, abs=1e-5), (cid, name)


def test_standard_scaler_statistics_are_fitted_on_the_data(shop_build):
    fs, rows = shop_build
    values = np.log1p([r["monetary"] for r in rows.values()])
    scale = fs.metadata.feature("monetary")["scale"]
    assert scale["method"] == "standard"
    assert scale["center"] == pytest.approx(values.mean())
    assert scale["scale"] == pytest.approx(values.std())
    # binary columns are neither logged nor scaled
    assert fs.metadata.feature("gender_f")["scale"] == {"method": "none", "center": 0.0, "scale": 1.0}


def test_metadata_round_trips_through_json(shop_build, tmp_path):
    fs, _ = shop_build
    path = fs.metadata.save(tmp_path / "features.json")
    loaded = FeatureMetadata.load(path)
    assert loaded == fs.metadata
    assert loaded.as_of == "2024-07-01"
    assert set(loaded.inputs) == {"customers", "identities", "transactions", "events"}
    assert loaded.inputs["transactions"]["rows"] == 13


def test_applying_saved_metadata_to_new_customers_gives_fit_time_values(spark, shop_build, tmp_path):
    fs, fit_rows = shop_build
    loaded = FeatureMetadata.load(fs.metadata.save(tmp_path / "features.json"))
    # A new batch holding only some customers (none of them shares an id with another).
    batch = only_customers(shop_tables(spark), {"C1", "C5", "C9"})
    applied = build_features(spark, batch, FeaturesConfig(as_of="2024-07-01"), metadata=loaded)
    got = {r["customer_id"]: r.asDict() for r in applied.df.collect()}
    assert sorted(got) == ["C1", "C5", "C9"]
    assert applied.df.columns == fs.df.columns
    for cid, row in got.items():
        for name, value in row.items():
            if name == "features":
                np.testing.assert_allclose(value, fit_rows[cid][name], rtol=1e-6, atol=1e-6)
            else:
                assert value == fit_rows[cid][name], (cid, name)
    # nothing was refitted
    assert applied.metadata.features == loaded.features
    assert applied.metadata.rfm_cuts == loaded.rfm_cuts


def test_applying_metadata_needs_the_same_tables(spark, shop_build):
    fs, _ = shop_build
    tables = shop_tables(spark)
    del tables["events"]
    with pytest.raises(ValueError, match="fitted on tables"):
        build_features(spark, tables, SHOP_CONFIG, metadata=fs.metadata)


def test_robust_scaler_uses_median_and_iqr(spark):
    df = spark.createDataFrame([(float(v),) for v in [1, 2, 3, 4, 100]], "x double")
    entries = [{"name": "x", "kind": "numeric", "log1p": False}]
    transform.fit_scaler(df, entries, "robust", use_log1p=True, accuracy=10_000)
    assert entries[0]["scale"] == {"method": "robust", "center": 3.0, "scale": 2.0}


def test_constant_column_keeps_scale_one(spark):
    df = spark.createDataFrame([(5.0,), (5.0,)], "x double")
    entries = [{"name": "x", "kind": "numeric", "log1p": False}]
    transform.fit_scaler(df, entries, "standard", use_log1p=True, accuracy=100)
    assert entries[0]["scale"] == {"method": "standard", "center": 5.0, "scale": 1.0}


@pytest.mark.parametrize(
    ("weights", "balance", "expected"),
    [
        ({}, False, [1.0, 1.0, 1.0]),
        ({"value": 2.0}, False, [1.0, 1.0, 2.0]),
        ({"value": 2.0}, True, [1 / math.sqrt(2), 1 / math.sqrt(2), 2.0]),
    ],
)
def test_group_weights(weights, balance, expected):
    entries = [{"group": "behaviour", "in_vector": True}, {"group": "behaviour", "in_vector": True},
               {"group": "value", "in_vector": True}]
    transform.set_weights(entries, weights, balance)
    assert [e["weight"] for e in entries] == pytest.approx(expected)


def test_pca_matches_numpy_and_projects(spark):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)) @ np.diag([3.0, 2.0, 1.0, 0.1])
    df = spark.createDataFrame([(row.tolist(),) for row in x.astype(np.float32)],
                               "features array<float>").repartition(3)
    pca = transform.fit_pca(df, 2)
    x32 = x.astype(np.float32).astype(np.float64)
    values, vectors = np.linalg.eigh(np.cov(x32, rowvar=False, bias=True))
    top = vectors[:, np.argsort(values)[::-1][:2]].T
    for got, want in zip(np.asarray(pca["components"]), top, strict=True):
        assert abs(float(got @ want)) == pytest.approx(1.0, abs=1e-6)
    assert sum(pca["explained_variance_ratio"]) < 1.0
    projected = np.asarray([r[0] for r in df.select(transform.pca_column(pca)).collect()])
    assert projected.shape == (200, 2)
    assert projected.mean(axis=0) == pytest.approx([0.0, 0.0], abs=1e-4)


def test_metadata_version_is_checked():
    with pytest.raises(ValueError, match="version=99 is not supported"):
        FeatureMetadata.from_json('{"version": 99}')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"windows_days": []}, r"windows_days=\[\] should not be empty"),
        ({"windows_days": [30, 0]}, r"windows_days=\[30, 0\] should all be >= 1"),
        ({"windows_days": [30, 30]}, "should be distinct"),
        ({"scaler": "minmax"}, "scaler='minmax' should be one of"),
        ({"groups": ["behaviour", "vibes"]}, "groups=.* should be within"),
        ({"group_weights": {"value": -1.0}}, "should all be >= 0"),
        ({"rfm_bins": 1}, "rfm_bins=1 should be >= 2"),
        ({"pca_components": 0}, "pca_components=0 should be >= 1 or null"),
        ({"clv_spend_precision": 0.0}, "clv_spend_precision=0.0 should be within"),
        ({"age_bands": [30, 20]}, "should be strictly increasing"),
        ({"as_of": "2024-7-1"}, "as_of='2024-7-1' should be an ISO date"),
    ],
)
def test_bad_config_is_rejected_naming_the_value(change, message):
    cfg = FeaturesConfig(**{**SHOP_CONFIG.__dict__, **change})
    with pytest.raises(ValueError, match=message):
        check_config(cfg)


def test_as_of_must_be_a_date_not_a_time():
    from datetime import datetime

    with pytest.raises(TypeError, match="should be a date"):
        resolve_as_of(datetime(2024, 7, 1, 12))


def test_groups_choose_the_vector_columns(spark, shop_build):
    fs, _ = shop_build
    groups = {fs.metadata.feature(n)["group"] for n in fs.metadata.vector_names}
    assert groups == {"behaviour", "channel", "engagement", "value", "demographic",
                      "geographic", "psychographic"}
    entries = [dict(e, in_vector=e["group"] == "value") for e in fs.metadata.features]
    only_value = fs.df.select(transform.vector_column(entries, use_log1p=True).alias("v"))
    n_value = sum(e["group"] == "value" for e in entries)
    assert n_value >= 3  # r, f and m scores at least
    assert len(only_value.first()["v"]) == n_value
    with pytest.raises(ValueError, match="no feature is in the vector"):
        transform.vector_column([dict(e, in_vector=False) for e in entries], use_log1p=True)
