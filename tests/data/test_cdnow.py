"""The real CDNOW purchases from the lifetimes wheel, mapped onto the contract."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from bigseg.config import compose
from bigseg.data.cdnow import CUSTOMERS, MASTER, ROWS, SAMPLE, cdnow_path
from bigseg.data.load import load_sources


def test_cdnow_file_is_located_through_package_metadata():
    path = cdnow_path()
    assert path.endswith(f"lifetimes/datasets/{MASTER}")
    assert cdnow_path(SAMPLE).endswith(SAMPLE)
    with pytest.raises(ValueError, match=r"name='CDNOW.csv' should be one of"):
        cdnow_path("CDNOW.csv")


def test_cdnow_loads_every_purchase_and_customer(spark, tmp_path):
    cfg = compose("pipeline", ["source=cdnow", f"paths.root={tmp_path}"])
    loaded = load_sources(spark, cfg.source, cfg.paths)
    tx = loaded.tables["transactions"]
    report = loaded.report.tables["transactions"]
    assert (report.rows_in, report.rows_used, report.rows_quarantined) == (ROWS, ROWS, 0)
    stats = tx.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("channel_id").alias("customers"),
        F.countDistinct("transaction_id").alias("ids"),
        F.min("ts").alias("first"),
        F.max("ts").alias("last"),
        F.round(F.sum("amount"), 2).alias("revenue"),
    ).first()
    assert (stats.rows, stats.customers, stats.ids) == (69_659, 23_570, 69_659)
    assert (str(stats.first.date()), str(stats.last.date())) == ("1997-01-01", "1998-06-30")
    assert stats.revenue == pytest.approx(2_500_315.63)
    assert loaded.report.tables["customers"].rows_used == CUSTOMERS
    assert loaded.report.tables["identities"].rows_used == CUSTOMERS
    assert {r.channel for r in tx.select("channel").distinct().collect()} == {"web"}
    assert (tmp_path / "reports" / "quarantine.json").is_file()
