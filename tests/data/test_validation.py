"""Validation: each contract violation lands in quarantine with its reason; counts add up."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from bigseg.io.contracts import CONTRACTS
from bigseg.io.quarantine import (
    QuarantineReport,
    QuarantineThresholdError,
    TableReport,
    check_threshold,
)
from bigseg.io.validation import validate

TS = datetime(2025, 3, 1, 12, 0, 0)
FUTURE = datetime(2099, 1, 1)
NAN, INF = float("nan"), float("inf")

# (transaction_id, channel_id, channel, ts, amount, quantity, discount) -> expected reason.
# None: the row is used.
TRANSACTION_CASES = [
    (("t1", "w1", "web", TS, 10.0, 1, 0.0), None),
    (("t2", "w1", "web", TS, -10.0, -1, 0.0), None),  # a return: both negative
    ((None, "w1", "web", TS, 10.0, 1, 0.0), "null_key"),
    (("  ", "w1", "web", TS, 10.0, 1, 0.0), "null_key"),
    (("t3", None, "web", TS, 10.0, 1, 0.0), "null_channel_id"),
    (("t4", "w1", "web", None, 10.0, 1, 0.0), "null_ts"),
    (("t5", "w1", "web", FUTURE, 10.0, 1, 0.0), "future_ts"),
    (("t6", "w1", "web", TS, None, 1, 0.0), "null_amount"),
    (("t7", "w1", "web", TS, NAN, 1, 0.0), "amount_not_finite"),
    (("t8", "w1", "web", TS, INF, 1, 0.0), "amount_not_finite"),
    (("t9", "w1", "web", TS, -5.0, 2, 0.0), "negative_amount_not_return"),
    (("t10", "w1", "web", TS, 5.0, -2, 0.0), "negative_quantity_not_return"),
    (("t11", "w1", "web", TS, 5.0, 1, 1.2), "discount_out_of_range"),
    (("t12", "w9", "web", TS, 5.0, 1, 0.0), "unknown_channel_id"),
    (("t13", "w1", "app", TS, 5.0, 1, 0.0), "unknown_channel_id"),  # id known on web only
    (("t1", "w1", "web", TS, 10.0, 1, 0.0), "duplicate_key"),
]


def _transactions(spark, rows):
    schema = CONTRACTS["transactions"].schema
    full = [(t, c, ch, ts, a, q, "books", d) for t, c, ch, ts, a, q, d in rows]
    return spark.createDataFrame(full, schema)


def _identities(spark):
    return spark.createDataFrame([("web", "w1", "c1")], CONTRACTS["identities"].schema)


def test_each_violation_is_quarantined_with_its_reason(spark):
    df = _transactions(spark, [row for row, _ in TRANSACTION_CASES])
    result = validate(df, "transactions", references={"identities": _identities(spark)})
    expected_reasons = sorted(r for _, r in TRANSACTION_CASES if r)
    got = result.quarantine.collect()
    assert sorted(r.reason for r in got) == expected_reasons
    assert {r.table for r in got} == {"transactions"}
    report = result.report
    assert report.rows_in == len(TRANSACTION_CASES)
    assert report.rows_in == report.rows_used + report.rows_quarantined
    assert report.rows_used == result.used.count() == 2
    assert sum(report.by_reason.values()) == report.rows_quarantined
    assert report.by_reason["amount_not_finite"] == 2
    assert sorted(r.transaction_id for r in result.used.collect()) == ["t1", "t2"]


def test_quarantine_keeps_the_original_row_and_every_reason(spark):
    # Null id and a negative amount that is not a return: first reason wins, both listed.
    df = _transactions(spark, [(None, "w1", "web", TS, -3.0, 1, 0.0)])
    row = validate(df, "transactions").quarantine.first()
    assert row.reason == "null_key"
    assert row.reasons == ["null_key", "negative_amount_not_return"]
    original = json.loads(row.row)
    assert original["transaction_id"] is None and original["amount"] == -3.0


def test_duplicates_keep_exactly_one_row_deterministically(spark):
    rows = [("t1", "w1", "web", TS, 11.0, 1, 0.0), ("t1", "w1", "web", TS, 10.0, 1, 0.0)] * 2
    result = validate(_transactions(spark, rows), "transactions")
    used = result.used.collect()
    assert [r.amount for r in used] == [10.0]
    assert result.report.by_reason == {"duplicate_key": 3}


def test_bad_rows_do_not_make_a_good_duplicate_fail(spark):
    # The only other row with key t1 is itself bad: the good one stays.
    rows = [("t1", "w1", "web", TS, 10.0, 1, 0.0), ("t1", "w1", "web", TS, NAN, 1, 0.0)]
    result = validate(_transactions(spark, rows), "transactions")
    assert result.report.by_reason == {"amount_not_finite": 1}


CUSTOMER_CASES = [
    ("c1", 30, 50_000.0, 1, date(2024, 1, 1), 3.0, None),
    ("c2", 121, 50_000.0, 1, date(2024, 1, 1), 3.0, "age_out_of_range"),
    ("c3", -1, 50_000.0, 1, date(2024, 1, 1), 3.0, "age_out_of_range"),
    ("c4", 40, -1.0, 1, date(2024, 1, 1), 3.0, "income_invalid"),
    ("c5", 40, 1.0, 4, date(2024, 1, 1), 3.0, "city_tier_out_of_range"),
    ("c6", 40, 1.0, 2, date(2099, 1, 1), 3.0, "future_signup_date"),
    ("c7", 40, 1.0, 2, date(2024, 1, 1), 6.0, "survey_score_out_of_range"),
    ("c8", None, None, None, None, None, None),  # optional columns may be null
]


def test_customer_rules(spark):
    rows = [(c, a, i, t, s, v) for c, a, i, t, s, v, _ in CUSTOMER_CASES]
    df = spark.createDataFrame(
        rows,
        "customer_id string, age int, income double, city_tier int, signup_date date, "
        "survey_brand_loyalty double",
    )
    result = validate(df, "customers")  # absent optional columns are filled with nulls
    got = {r.row: r.reason for r in result.quarantine.collect()}
    reasons = {json.loads(k)["customer_id"]: v for k, v in got.items()}
    assert reasons == {c[0]: c[-1] for c in CUSTOMER_CASES if c[-1]}
    assert result.used.columns == CONTRACTS["customers"].column_names


def test_references_to_customers(spark):
    customers = spark.createDataFrame([("c1",)], "customer_id string")
    outcomes = spark.createDataFrame(
        [
            ("c1", "k1", True, False, 0.0, TS),
            ("c2", "k1", True, True, 5.0, TS),
            ("c1", "k2", None, False, 0.0, TS),
            ("c1", "k3", False, True, -2.0, TS),
        ],
        CONTRACTS["campaign_outcomes"].schema,
    )
    result = validate(outcomes, "campaign_outcomes", references={"customers": customers})
    assert result.report.by_reason == {
        "unknown_customer_id": 1,
        "null_treated": 1,
        "revenue_invalid": 1,
    }


def test_as_of_sets_the_future(spark):
    df = _transactions(spark, [("t1", "w1", "web", TS, 1.0, 1, 0.0)])
    assert validate(df, "transactions", as_of="2025-01-01").report.by_reason == {"future_ts": 1}
    assert validate(df, "transactions", as_of="2026-01-01").report.rows_used == 1


@pytest.mark.parametrize(
    ("table", "columns", "kwargs", "match"),
    [
        ("orders", "transaction_id string", {}, r"unknown table 'orders'"),
        ("transactions", "transaction_id string", {}, r"required columns \['channel_id'"),
        (
            "identities",
            "channel string, channel_id string, customer_id string",
            {"as_of": "soon"},
            r"as_of='soon' is not a timestamp",
        ),
    ],
)
def test_validate_rejects_bad_input(spark, table, columns, kwargs, match):
    df = spark.createDataFrame([], columns)
    with pytest.raises(ValueError, match=match):
        validate(df, table, **kwargs)


def test_threshold_failure_names_table_reason_and_example(spark):
    df = _transactions(spark, [row for row, _ in TRANSACTION_CASES])
    report = validate(df, "transactions", references={"identities": _identities(spark)}).report
    with pytest.raises(QuarantineThresholdError) as err:
        check_threshold(report, 0.05)
    message = str(err.value)
    assert "table 'transactions'" in message
    assert "14 of 16 rows" in message
    assert "'amount_not_finite'" in message or "'null_key'" in message
    assert "example row: {" in message
    check_threshold(report, 0.9)  # under the limit: no error


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rows_in=3, rows_used=1, rows_quarantined=1), r"rows_in=3 != rows_used=1"),
        (
            dict(rows_in=2, rows_used=1, rows_quarantined=1, by_reason={"x": 2}),
            r"do not add up to rows_quarantined=1",
        ),
    ],
)
def test_report_rejects_counts_that_do_not_add_up(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TableReport("t", **kwargs)


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_threshold_rejects_bad_share(share):
    report = TableReport("t", 1, 1, 0)
    with pytest.raises(
        ValueError, match=rf"max_quarantine_share={share} should be within \[0, 1\]"
    ):
        check_threshold(report, share)


def test_report_summary_and_json(tmp_path):
    report = QuarantineReport()
    report.add(TableReport("t", 10, 8, 2, {"null_key": 2}, {"null_key": "{}"}))
    assert "t: rows_in=10 rows_used=8 rows_quarantined=2 (null_key=2)" in report.summary()
    data = json.loads(report.write_json(tmp_path / "r" / "q.json").read_text())
    assert data["t"]["quarantined_share"] == 0.2
