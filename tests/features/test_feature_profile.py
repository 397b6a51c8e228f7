"""Demographic, geographic and psychographic encodings and their missing-value policy."""

from __future__ import annotations

import pytest

AGE_BANDS = ["age_under_25", "age_25_34", "age_35_44", "age_45_54", "age_55_64", "age_65_plus",
             "age_missing"]


@pytest.mark.parametrize(
    ("customer", "band"),
    [
        ("C1", "age_25_34"),  # born 1994-01-15: 30 at as_of; the stored age 99 loses
        ("C2", "age_missing"),  # neither birth date nor age
        ("C3", "age_65_plus"),  # only the stored age, 70
        ("C5", "age_under_25"),  # born 2000-07-01: 24 on as_of exactly
    ],
)
def test_age_bands_are_one_hot(shop_build, customer, band):
    _, rows = shop_build
    assert {b: rows[customer][b] for b in AGE_BANDS} == {b: float(b == band) for b in AGE_BANDS}


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        ("C1", {"education": 2.0, "education_missing": 0.0, "income": 50_000.0,
                "income_missing": 0.0, "gender_f": 1.0, "gender_missing": 0.0,
                "region_north": 1.0, "city_tier_1": 1.0, "city_tier_missing": 0.0}),
        # "kindergarten" is not a known education level: missing, imputed, flagged
        ("C2", {"education": 2.0, "education_missing": 1.0, "income": 50_000.0,
                "income_missing": 1.0, "gender_missing": 1.0, "gender_f": 0.0,
                "gender_m": 0.0, "region_south": 1.0, "city_tier_2": 1.0}),
        ("C3", {"education": 3.0, "gender_m": 1.0, "city_tier_missing": 1.0,
                "city_tier_1": 0.0, "city_tier_2": 0.0, "city_tier_3": 0.0}),
        ("C4", {"gender_x": 1.0, "region_missing": 1.0, "region_north": 0.0,
                "region_other": 0.0}),
        ("C5", {"education": 0.0, "income": 30_000.0, "city_tier_3": 1.0}),
    ],
)
def test_encodings(shop_build, customer, expected):
    _, rows = shop_build
    assert {k: rows[customer][k] for k in expected} == expected


def test_missing_values_are_imputed_with_fitted_medians_and_flagged(shop_build):
    fs, rows = shop_build
    # income known for C1 50k, C3 80k, C5 30k: median 50k
    assert fs.metadata.feature("income")["impute"] == {"strategy": "median", "value": 50_000.0}
    # price sensitivity known for C1 4, C3 2, C5 3: median 3
    assert rows["C4"]["survey_price_sensitivity"] == 3.0
    assert rows["C4"]["survey_price_sensitivity_missing"] == 1.0
    assert rows["C3"]["survey_price_sensitivity"] == 2.0
    assert rows["C3"]["survey_price_sensitivity_missing"] == 0.0
    # nobody answered brand loyalty: imputed 0, flagged for everyone
    assert {r["survey_brand_loyalty_missing"] for r in rows.values()} == {1.0}


def test_profile_groups_and_kinds_in_metadata(shop_build):
    fs, _ = shop_build
    meta = fs.metadata
    assert meta.feature("age_25_34")["group"] == "demographic"
    assert meta.feature("region_north")["group"] == "geographic"
    assert meta.feature("survey_price_sensitivity")["group"] == "psychographic"
    assert meta.feature("gender_f")["kind"] == "binary"
    assert meta.feature("income")["log1p"] is True
    assert meta.levels["profile"] == {"gender": ["F", "M", "X"], "region": ["north", "south"],
                                      "city_tier": ["1", "2", "3"]}
