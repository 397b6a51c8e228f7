"""Fixtures over the hand-built shop of shop_data.py."""

from __future__ import annotations

import pytest
from shop_data import SHOP_CONFIG, shop_tables


class _Memo:
    builds: dict = {}


@pytest.fixture
def shop(spark):
    return shop_tables(spark)


@pytest.fixture
def shop_build(spark):
    """The fitted FeatureSet of the shop (built once per test run) and its rows by id."""
    from bigseg.features.build import build_features

    if "shop" not in _Memo.builds:
        fs = build_features(spark, shop_tables(spark), SHOP_CONFIG)
        rows = {r["customer_id"]: r.asDict() for r in fs.df.collect()}
        _Memo.builds["shop"] = (fs, rows)
    return _Memo.builds["shop"]
