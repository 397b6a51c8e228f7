"""Identity resolution: channel ids -> one row per customer; unattributable rows kept."""

from __future__ import annotations

import json

import pytest
from shop_data import SHOP_CONFIG, shop_tables

from bigseg.features import identity
from bigseg.features.build import build_features


def test_one_row_per_customer_across_channels(shop_build):
    fs, rows = shop_build
    # C1-C5 from customers, C9 from a purchase only: nobody twice, nobody lost.
    assert sorted(rows) == ["C1", "C2", "C3", "C4", "C5", "C9"]
    assert fs.df.count() == 6
    c1 = rows["C1"]
    # store, web and app purchases and email/phone events all land on C1
    assert (c1["frequency_store"], c1["frequency_web"], c1["frequency_app"]) == (2.0, 1.0, 2.0)
    assert c1["event_share_call_centre"] == pytest.approx(1 / 7)


def test_customer_missing_from_customers_table_keeps_activity_and_flags_profile(shop_build):
    _, rows = shop_build
    c9 = rows["C9"]
    assert c9["monetary"] == 40.0
    assert c9["age_missing"] == c9["gender_missing"] == c9["income_missing"] == 1.0


def test_unattributable_rows_are_counted_and_quarantined(shop_build):
    fs, _ = shop_build
    assert fs.counts["transactions"] == {
        "rows_in": 13, "rows_used": 10, "rows_quarantined": 2, "rows_after_as_of": 1,
        "by_reason": {"unknown_channel_id": 1, "ambiguous_channel_id": 1},
    }
    assert fs.counts["events"]["by_reason"] == {"unknown_channel_id": 1}
    quarantined = {(r["reason"], json.loads(r["row"])["transaction_id"])
                   for r in fs.quarantine["transactions"].collect()}
    assert quarantined == {("unknown_channel_id", "t12"), ("ambiguous_channel_id", "t13")}
    assert fs.metadata.quarantine == fs.counts
    # The ambiguous purchase is credited to neither claimant.
    assert fs.quarantine["events"].count() == 1


def test_resolve_marks_ambiguous_ids_and_collapses_duplicates(shop):
    got = {(r["channel"], r["channel_id"]): (r["customer_id"], r["_ambiguous"])
           for r in identity.resolve(shop["identities"]).collect()}
    assert got[("web", "WX")] == (None, True)
    assert got[("store", "L3")] == ("C3", False)
    assert len(got) == 11


@pytest.mark.parametrize(
    ("drop", "table", "message"),
    [
        ("channel_id", "transactions", r"transactions lacks columns \['channel_id'\]"),
        ("ts", "events", r"events lacks columns \['ts'\]"),
    ],
)
def test_attach_names_missing_columns(shop, drop, table, message):
    resolved = identity.resolve(shop["identities"])
    with pytest.raises(ValueError, match=message):
        identity.attach(shop[table].drop(drop), resolved, table)


def test_resolve_names_missing_columns(shop):
    with pytest.raises(ValueError, match=r"identities lacks columns \['customer_id'\]"):
        identity.resolve(shop["identities"].drop("customer_id"))


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        ({"transactions"}, "needs the identities table"),
        ({"identities"}, "needs at least one of customers, transactions, events"),
    ],
)
def test_build_rejects_incomplete_table_sets(spark, keep, message):
    tables = {k: v for k, v in shop_tables(spark).items() if k in keep}
    with pytest.raises(ValueError, match=message):
        build_features(spark, tables, SHOP_CONFIG)


def test_build_rejects_duplicate_customers(spark):
    tables = shop_tables(spark)
    customers = tables["customers"]
    only = {"customers": customers.unionByName(customers.where("customer_id = 'C2'"))}
    with pytest.raises(ValueError, match="customer_id 'C2' appears 2 times"):
        build_features(spark, only, SHOP_CONFIG)
