"""Behaviour, channel and engagement features against the hand-built shop (shop_data.py).

Every expected value is worked out from the rows in shop_data.py; the comments say how.
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from shop_data import AS_OF, AS_OF_DAY, SHOP_CONFIG, days_before

from bigseg.config import FeaturesConfig
from bigseg.features import identity
from bigseg.features.behaviour import (
    ActivityLevels,
    aggregate_events,
    aggregate_transactions,
    discover_event_levels,
    email_rate_features,
    trend,
)

C1_EXPECTED = {
    # purchases before as_of: t1 100 (2023-06-01), t2 50, t3 30 + t4 20 (one day), t7 10;
    # t5 is a return; t6 (999) is at exactly as_of and must not count.
    "frequency": 5.0,
    "monetary": 210.0,
    "aov": 42.0,
    "active_days": 4.0,
    "recency_days": 1.0,  # t7 at 23:59:59 the day before as_of
    "arpu": 70.0,  # 210 over 3 months with a purchase (2023-06, 2024-04, 2024-06)
    "discount_share": 0.4,  # t2 and t7 of 5
    "avg_discount": pytest.approx(0.06),  # (0.2 + 0.1) / 5
    "return_rate": 0.2,  # 1 return per 5 purchases
    "return_amount_share": pytest.approx(50 / 210),
    # windows: 30 days = from 2024-06-01; 90 from 2024-04-02; 365 from 2023-07-02
    "frequency_30d": 3.0, "monetary_30d": 60.0, "active_days_30d": 2.0,
    "frequency_90d": 4.0, "monetary_90d": 110.0, "active_days_90d": 3.0,
    "frequency_365d": 4.0, "monetary_365d": 110.0, "active_days_365d": 3.0,
    # last 30 days: 60; the 90 before: 50 -> 50/3 per 30 days
    "revenue_trend": pytest.approx((60 - 50 / 3) / (60 + 50 / 3)),
    "frequency_trend": pytest.approx((3 - 1 / 3) / (3 + 1 / 3)),
    # top 3 categories by revenue before as_of: electronics 280, grocery 170, toys 80
    "category_share_grocery": pytest.approx(150 / 210),
    "category_share_electronics": 0.0,
    "category_share_toys": 0.0,  # the 999 toys purchase is at as_of
    "category_share_other": pytest.approx(60 / 210),  # fashion 50 + books 10
    "channel_share_store": pytest.approx(110 / 210),
    "channel_share_web": pytest.approx(50 / 210),
    "channel_share_app": pytest.approx(50 / 210),
    "recency_days_web": float(days_before("2024-04-15")),
    "recency_days_app": float(days_before("2024-06-20")),
    "frequency_app": 2.0, "aov_app": 25.0, "active_days_app": 1.0,
    "monetary_store_30d": 10.0, "frequency_web_30d": 0.0, "monetary_web_90d": 50.0,
    "n_sales_channels": 3.0,
    "tenure_days": float(days_before("2023-01-01")),  # sign-up before the first purchase
    # events before as_of: e1-e6 and e8 (e7 is at as_of)
    "events": 7.0, "events_30d": 5.0, "events_90d": 6.0, "events_365d": 6.0,
    "event_recency_days": 2.0,  # e6 on 2024-06-29
    "call_contacts": 1.0, "call_contacts_30d": 0.0, "call_contacts_90d": 1.0,
    "email_open_rate": 0.5,  # 1 open / 2 sends
    "email_click_rate": 0.5,  # 1 click / 2 sends
    "event_view": 1.0, "event_login": 1.0, "event_login_365d": 0.0,
    "event_share_email": pytest.approx(4 / 7),
    "no_purchase": 0.0, "no_events": 0.0, "no_email_sent": 0.0,
}


@pytest.mark.parametrize(("name", "expected"), sorted(C1_EXPECTED.items()))
def test_multichannel_customer_features(shop_build, name, expected):
    _, rows = shop_build
    assert rows["C1"][name] == expected


@pytest.mark.parametrize(
    ("customer", "name", "expected"),
    [
        ("C2", "recency_days", float(days_before("2024-06-12"))),
        ("C2", "channel_share_web", 0.8),
        ("C2", "discount_share", 0.5),
        ("C2", "revenue_trend", 1.0),  # everything in the last 30 days
        ("C2", "tenure_days", 30.0),  # signed up 2024-06-01
        ("C3", "frequency_90d", 0.0),
        ("C3", "frequency_365d", 1.0),
        ("C3", "category_share_electronics", 1.0),
        ("C9", "revenue_trend", -1.0),  # only in the 90 days before the last 30
        ("C9", "tenure_days", float(days_before("2024-05-01"))),
        ("C5", "events", 1.0),
        ("C5", "event_share_web", 1.0),
        ("C5", "tenure_days", 16.0),
    ],
)
def test_other_customers(shop_build, customer, name, expected):
    _, rows = shop_build
    assert rows[customer][name] == pytest.approx(expected)


def test_rows_at_as_of_do_not_count_but_are_accounted_for(shop_build):
    fs, rows = shop_build
    assert rows["C1"]["monetary"] == 210.0  # not 1209: t6 is at 00:00:00 on as_of
    assert rows["C1"]["category_share_toys"] == 0.0
    tx = fs.counts["transactions"]
    assert tx["rows_after_as_of"] == 1
    assert tx["rows_in"] == tx["rows_used"] + tx["rows_quarantined"] + tx["rows_after_as_of"]
    assert fs.counts["events"]["rows_after_as_of"] == 1


def test_customers_without_purchases_get_imputed_values_and_indicators(shop_build):
    fs, rows = shop_build
    c4 = rows["C4"]
    assert c4["no_purchase"] == 1.0 and c4["no_events"] == 1.0
    assert c4["frequency"] == 0.0 and c4["monetary"] == 0.0
    # recency: the largest observed recency (C3's 173 days), flagged by no_purchase
    assert c4["recency_days"] == fs.metadata.feature("recency_days")["impute"]["value"] == 173.0
    assert c4["discount_share"] == 0.0
    assert c4["tenure_days"] == float(days_before("2024-03-01"))
    for row in rows.values():
        assert all(v is not None for v in row.values()), row["customer_id"]


def _tx_aggregate(spark, shop, as_of_day, windows):
    cfg = FeaturesConfig(as_of=AS_OF.isoformat(), windows_days=windows)
    attached = identity.attach(shop["transactions"], identity.resolve(shop["identities"]),
                               "transactions")
    levels = ActivityLevels(channels=("store", "web", "app"))
    agg = aggregate_transactions(attached, as_of_day, cfg, levels)
    return {r["customer_id"]: r for r in agg.collect()}


def test_windows_come_from_the_config_and_as_of_moves_them(spark, shop):
    rows = _tx_aggregate(spark, shop, AS_OF_DAY, [7, 60])
    c1 = rows["C1"]
    assert "tx_count_30d" not in c1.asDict()
    assert c1["tx_count_7d"] == 1  # t7 only (t3, t4 are 11 days before)
    assert c1["tx_count_60d"] == 3
    assert c1["tx_revenue"] == 210.0
    # One day later, the purchase at the old as_of counts.
    later = _tx_aggregate(spark, shop, AS_OF_DAY + 1, [7])
    assert later["C1"]["tx_revenue"] == 1209.0
    assert later["C1"]["tx_count_7d"] == 2


def test_trend_is_bounded_and_zero_without_activity(spark):
    df = spark.createDataFrame([(0.0, 0.0), (30.0, 0.0), (0.0, 90.0), (10.0, 30.0)], "r double, b double")
    got = [r[0] for r in df.select(trend(F.col("r"), F.col("b"), 30, 90)).collect()]
    assert got == [0.0, 1.0, -1.0, 0.0]


def test_levels_are_learnt_before_as_of_and_recorded(shop_build):
    fs, _ = shop_build
    assert fs.metadata.levels["categories"] == ["electronics", "grocery", "toys"]
    assert fs.metadata.levels["channels"] == ["app", "store", "web"]
    assert SHOP_CONFIG.top_categories == 3


def _email_rates(shop, events):
    """Raw email rates per customer, with the event levels discovered as a fit does."""
    event_types, _ = discover_event_levels(events, AS_OF_DAY, SHOP_CONFIG)
    levels = ActivityLevels(event_types=tuple(event_types))
    attached = identity.attach(events, identity.resolve(shop["identities"]), "events")
    agg = aggregate_events(attached, AS_OF_DAY, SHOP_CONFIG, levels)
    feats = email_rate_features(SHOP_CONFIG, levels)
    rows = agg.where(F.col("customer_id").isNotNull()).select(
        "customer_id", *[f.expr.alias(f.name) for f in feats]).collect()
    return {f.name: f for f in feats}, {r["customer_id"]: r.asDict() for r in rows}


def test_email_rates_are_per_send_when_sends_exist(shop):
    feats, rows = _email_rates(shop, shop["events"])
    # C1: sends e1, e4; open e2; click e3 -> 1/2 and 1/2
    assert rows["C1"]["email_open_rate"] == 0.5
    assert rows["C1"]["email_click_rate"] == 0.5
    assert rows["C5"]["email_click_rate"] is None  # never sent: imputed, flagged
    assert feats["email_click_rate"].indicator == "no_email_sent"
    assert feats["email_click_rate"].doc == "Email clicks per email sent."


def test_email_rates_fall_back_to_click_to_open_without_sends(shop):
    no_sends = shop["events"].where(F.col("event_type") != "email_send")
    feats, rows = _email_rates(shop, no_sends)
    assert "email_open_rate" not in feats
    assert rows["C1"]["email_click_rate"] == 1.0  # 1 click / 1 open
    assert rows["C5"]["email_click_rate"] is None
    assert feats["email_click_rate"].indicator == "no_email_open"


def test_email_sends_after_as_of_do_not_make_send_rates(shop, spark):
    # Sends only at/after as_of are future rows: levels (and so the rates) ignore them.
    from shop_data import ts

    late = spark.createDataFrame(
        [("e99", "E1", "email", ts("2024-07-01 00:00:00"), "email_send")], shop["events"].schema)
    events = shop["events"].where(F.col("event_type") != "email_send").unionByName(late)
    feats, rows = _email_rates(shop, events)
    assert "email_open_rate" not in feats
    assert rows["C1"]["email_click_rate"] == 1.0
