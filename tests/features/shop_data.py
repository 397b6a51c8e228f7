"""A small hand-built shop whose every feature value is worked out by hand in the tests.

as_of = 2024-07-01 (UTC midnight). Customers:

- C1: store + web + app + email + phone; 5 purchases before as_of (one on 2023-06-01,
  outside the 365-day window; two on 2024-06-20, one day), one return, one purchase at
  exactly as_of (must not count); events on four channels, one at exactly as_of.
- C2: web + store, two purchases in June 2024; no events; most profile fields missing.
- C3: one store purchase in January; age given only as a number (70).
- C4: no activity at all.
- C5: one web event, no purchase.
- C9: a web purchase but no row in the customers table.
- Unattributable rows: web id W404 (unknown) and WX (claimed by C2 and C3: ambiguous).

Full builds are slow next to everything else, so the fitted build is made once per test
run and shared (the shared local[2] session lives as long).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from pyspark.sql import functions as F

from bigseg.config import FeaturesConfig
from bigseg.io.contracts import CUSTOMERS, EVENTS, IDENTITIES, TRANSACTIONS

AS_OF = date(2024, 7, 1)
AS_OF_DAY = (AS_OF - date(1970, 1, 1)).days


def ts(text: str) -> datetime:
    """An aware UTC datetime (PySpark reads naive ones in the process's local zone)."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def days_before(text: str) -> int:
    """Days from the date in ``text`` to as_of (what recency/tenure report)."""
    return (AS_OF - date.fromisoformat(text[:10])).days


IDENTITY_ROWS = [
    ("store", "L1", "C1"), ("web", "W1", "C1"), ("app", "A1", "C1"),
    ("email", "E1", "C1"), ("call_centre", "P1", "C1"),
    ("web", "W2", "C2"), ("store", "L2", "C2"),
    ("store", "L3", "C3"),
    ("web", "W5", "C5"),
    ("web", "W9", "C9"),
    ("web", "WX", "C2"), ("web", "WX", "C3"),
    # the same mapping twice is harmless
    ("store", "L3", "C3"),
]

# transaction_id, channel_id, channel, ts, amount, quantity, category, discount
TRANSACTION_ROWS = [
    ("t1", "L1", "store", ts("2023-06-01 10:00:00"), 100.0, 2, "grocery", 0.0),
    ("t2", "W1", "web", ts("2024-04-15 12:00:00"), 50.0, 1, "fashion", 0.2),
    ("t3", "A1", "app", ts("2024-06-20 09:00:00"), 30.0, 1, "grocery", 0.0),
    ("t4", "A1", "app", ts("2024-06-20 18:00:00"), 20.0, 1, "grocery", 0.0),
    ("t5", "W1", "web", ts("2024-06-25 08:00:00"), -50.0, -1, "fashion", 0.0),
    ("t6", "L1", "store", ts("2024-07-01 00:00:00"), 999.0, 1, "toys", 0.0),
    ("t7", "L1", "store", ts("2024-06-30 23:59:59"), 10.0, 1, "books", 0.1),
    ("t8", "W2", "web", ts("2024-06-10 11:00:00"), 80.0, 1, "electronics", 0.0),
    ("t9", "L2", "store", ts("2024-06-12 11:00:00"), 20.0, 1, "grocery", 0.5),
    ("t10", "L3", "store", ts("2024-01-10 11:00:00"), 200.0, 1, "electronics", 0.0),
    ("t11", "W9", "web", ts("2024-05-01 11:00:00"), 40.0, 1, "toys", 0.0),
    ("t12", "W404", "web", ts("2024-06-01 11:00:00"), 15.0, 1, "toys", 0.0),
    ("t13", "WX", "web", ts("2024-06-01 12:00:00"), 25.0, 1, "toys", 0.0),
]

# event_id, channel_id, channel, ts, event_type
EVENT_ROWS = [
    ("e1", "E1", "email", ts("2024-06-05 08:00:00"), "email_send"),
    ("e2", "E1", "email", ts("2024-06-05 09:00:00"), "email_open"),
    ("e3", "E1", "email", ts("2024-06-06 09:00:00"), "email_click"),
    ("e4", "E1", "email", ts("2024-06-10 08:00:00"), "email_send"),
    ("e5", "P1", "call_centre", ts("2024-05-01 15:00:00"), "call"),
    ("e6", "W1", "web", ts("2024-06-29 20:00:00"), "view"),
    ("e7", "W1", "web", ts("2024-07-01 00:00:00"), "view"),
    ("e8", "A1", "app", ts("2023-01-10 10:00:00"), "login"),
    ("e9", "W5", "web", ts("2024-06-15 10:00:00"), "view"),
    ("e10", "A404", "app", ts("2024-06-15 10:00:00"), "login"),
]

S = None  # survey score not given


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# customer_id, birth_date, age, gender, income, education, region, city, city_tier,
# signup_date, 4 survey scores
CUSTOMER_ROWS = [
    ("C1", _d("1994-01-15"), 99, "F", 50_000.0, "bachelor", "north", "Northport", 1,
     _d("2023-01-01"), 4.0, S, S, S),
    ("C2", None, None, None, None, "kindergarten", "south", "Southbay", 2,
     _d("2024-06-01"), S, S, S, S),
    ("C3", None, 70, "M", 80_000.0, "master", "north", "Lakeside", None,
     _d("2023-12-01"), 2.0, S, S, S),
    ("C4", None, None, "X", None, None, None, None, None, _d("2024-03-01"), S, S, S, S),
    ("C5", _d("2000-07-01"), None, "F", 30_000.0, "secondary", "south", "Riverton", 3,
     _d("2024-06-15"), 3.0, S, S, S),
]

SHOP_CONFIG = FeaturesConfig(as_of=AS_OF.isoformat(), top_categories=3)


def shop_tables(spark) -> dict:
    """The hand-built shop as contract-schema DataFrames."""
    return {
        "customers": spark.createDataFrame(CUSTOMER_ROWS, CUSTOMERS.schema),
        "identities": spark.createDataFrame(IDENTITY_ROWS, IDENTITIES.schema),
        "transactions": spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS.schema),
        "events": spark.createDataFrame(EVENT_ROWS, EVENTS.schema),
    }


def only_customers(tables: dict, ids: set[str]) -> dict:
    """The shop's tables restricted to some customers (as a new batch would arrive)."""
    identities = tables["identities"].where(F.col("customer_id").isin(sorted(ids)))
    keys = identities.select("channel", "channel_id").distinct()
    return {
        "customers": tables["customers"].where(F.col("customer_id").isin(sorted(ids))),
        "identities": identities,
        "transactions": tables["transactions"].join(keys, ["channel", "channel_id"], "left_semi"),
        "events": tables["events"].join(keys, ["channel", "channel_id"], "left_semi"),
    }
