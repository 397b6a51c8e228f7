"""Readers: formats, column mapping, timestamp formats and time zones, clear failures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from bigseg.config import TableSourceConfig
from bigseg.io.contracts import CONTRACTS, describe, get_contract
from bigseg.io.readers import SOURCE_COL, UNPARSED_COL, SourceError, read_table
from bigseg.io.validation import validate

CSV = """order;card;shop;when;paid;n;extra
o1;L1;store;01/03/2025 09:30;12.50;2;x
o2;L1;store;not a date;abc;1;y
o3;L2;store;02/03/2025 23:00;-4.00;-1;z
"""


def _csv_cfg(path) -> TableSourceConfig:
    return TableSourceConfig(
        path=str(path),
        format="csv",
        options={"sep": ";"},
        columns={
            "order": "transaction_id",
            "card": "channel_id",
            "shop": "channel",
            "when": "ts",
            "paid": "amount",
            "n": "quantity",
        },
        timestamp_format="dd/MM/yyyy HH:mm",
        timezone="Europe/Berlin",
    )


def test_contracts_document_every_column():
    for name, contract in CONTRACTS.items():
        assert set(contract.keys) <= set(contract.column_names), name
        for field in contract.schema.fields:
            assert field.metadata["comment"], (name, field.name)
        assert f"{name}:" in describe(name)
    with pytest.raises(ValueError, match=r"unknown table 'orders'; the contract has \["):
        get_contract("orders")


def test_csv_with_mapping_format_and_time_zone(spark, tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(CSV)
    df = read_table(spark, _csv_cfg(path), "transactions")
    assert df.columns == [*CONTRACTS["transactions"].column_names, UNPARSED_COL, SOURCE_COL]
    rows = {r.transaction_id: r for r in df.collect()}
    # 09:30 in Berlin (CET, UTC+1) is 08:30 UTC; the session time zone is UTC.
    assert rows["o1"].ts == datetime(2025, 3, 1, 8, 30)
    assert rows["o1"].amount == 12.5 and rows["o1"].quantity == 2
    assert rows["o1"][UNPARSED_COL] == []
    assert rows["o2"].ts is None and rows["o2"].amount is None
    assert rows["o2"][UNPARSED_COL] == ["ts", "amount"]
    # The source row keeps the user's names, including unmapped columns.
    assert rows["o2"][SOURCE_COL].asDict() == {
        "order": "o2",
        "card": "L1",
        "shop": "store",
        "when": "not a date",
        "paid": "abc",
        "n": "1",
        "extra": "y",
    }
    assert rows["o3"].category is None  # optional contract column absent: null


def test_unparseable_values_are_quarantined_not_dropped(spark, tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(CSV)
    result = validate(read_table(spark, _csv_cfg(path), "transactions"), "transactions")
    q = result.quarantine.collect()
    assert [(r.reason, r.reasons) for r in q] == [
        ("unparseable_ts", ["unparseable_ts", "unparseable_amount", "null_ts", "null_amount"])
    ]
    assert json.loads(q[0].row)["when"] == "not a date"
    assert result.report.rows_in == 3 and result.report.rows_used == 2  # o3 is a return


def test_typed_sources_carry_no_metadata(spark, tmp_path):
    # Parquet already in the contract's types: nothing to convert, no source row to keep.
    spark.createDataFrame([("web", "w1", "c1")], CONTRACTS["identities"].schema).write.parquet(
        str(tmp_path / "ids")
    )
    df = read_table(spark, TableSourceConfig(path=str(tmp_path / "ids")), "identities")
    assert df.columns == CONTRACTS["identities"].column_names


def test_json_parquet_and_catalog_table_agree(spark, tmp_path):
    rows = [
        {"channel": "web", "channel_id": "w1", "customer_id": "c1"},
        {"channel": "app", "channel_id": "a1", "customer_id": "c1"},
    ]
    (tmp_path / "ids.json").write_text("\n".join(json.dumps(r) for r in rows))
    from_json = read_table(
        spark, TableSourceConfig(path=str(tmp_path / "ids.json"), format="json"), "identities"
    )
    from_json.write.parquet(str(tmp_path / "ids"))
    from_parquet = read_table(spark, TableSourceConfig(path=str(tmp_path / "ids")), "identities")
    spark.read.parquet(str(tmp_path / "ids")).createOrReplaceTempView("bigseg_test_ids")
    from_table = read_table(spark, TableSourceConfig(table="bigseg_test_ids"), "identities")
    expected = sorted((r["channel"], r["channel_id"], r["customer_id"]) for r in rows)
    for df in (from_json, from_parquet, from_table):
        assert sorted(tuple(r)[:3] for r in df.collect()) == expected


def test_whitespace_text_with_constants_and_row_ids(spark, tmp_path):
    path = tmp_path / "cd.txt"
    path.write_text(
        " id  date  cds  usd\r\n 0001 19970101  1  11.77\r\n 0002 19970112  5   77.00\r\n"
    )
    cfg = TableSourceConfig(
        path=str(path),
        format="whitespace",
        columns={"id": "channel_id", "date": "ts", "cds": "quantity", "usd": "amount"},
        constants={"channel": "web"},
        row_id="transaction_id",
        timestamp_format="yyyyMMdd",
    )
    rows = read_table(spark, cfg, "transactions").orderBy("transaction_id").collect()
    assert [
        (r.transaction_id, r.channel_id, r.channel, r.ts, r.quantity, r.amount) for r in rows
    ] == [
        ("0", "0001", "web", datetime(1997, 1, 1), 1, 11.77),
        ("1", "0002", "web", datetime(1997, 1, 12), 5, 77.0),
    ]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            dict(path="{tmp}/missing.parquet", format="parquet"),
            r"cannot read table 'transactions' from .*missing\.parquet.*PATH_NOT_FOUND",
        ),
        (
            dict(format="parquet"),
            r"cannot read table 'transactions' from .*tx\.csv \(format parquet\)",
        ),
        (dict(format="xml"), r"format='xml' is not one of \['parquet'"),
        (dict(path=None), r"table 'transactions' has no source: set source.transactions.path"),
        (
            dict(table="no_such_table_anywhere"),
            r"cannot read table 'transactions' from catalog table 'no_such_table_anywhere'",
        ),
        (
            dict(columns={"order": "transaction_id"}),
            r"tx\.csv.*required column\(s\) \['channel_id', 'channel', 'ts', 'amount'\] missing",
        ),
        (
            dict(columns={"orderid": "transaction_id"}),
            r"tx\.csv.*mapped column\(s\) \['orderid'\] not found",
        ),
        (
            dict(columns={"order": "order_no"}),
            r"targets \['order_no'\], which are not contract columns",
        ),
        (dict(row_id="channel_id"), r"row_id='channel_id' is not a key column"),
    ],
)
def test_unreadable_sources_fail_naming_file_and_column(spark, tmp_path, change, match):
    path = tmp_path / "tx.csv"
    path.write_text(CSV)
    change = {k: (v.format(tmp=tmp_path) if isinstance(v, str) else v) for k, v in change.items()}
    cfg = replace(_csv_cfg(path), **change)
    with pytest.raises(SourceError, match=match):
        read_table(spark, cfg, "transactions")
