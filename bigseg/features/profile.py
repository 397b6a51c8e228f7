"""Demographic, geographic and psychographic features from the customers table.

Encodings: age in bands (one-hot), income (log1p, numeric) and education (ordinal) as
numbers, gender, region and city tier one-hot over levels learnt at fit time (values
beyond them go to ``<column>_other``), survey scores as numbers. Missing values follow
bigseg.features.spec: numbers are imputed (median) with an indicator; one-hot columns
carry their own ``<column>_missing`` level. A customer seen in activity tables but absent
from the customers table gets every profile feature missing, flagged the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.config import FeaturesConfig
from bigseg.features.behaviour import level_columns
from bigseg.features.spec import FeatureDef

ONE_HOT = {"gender": "demographic", "region": "geographic", "city_tier": "geographic"}
SURVEY_PREFIX = "survey_"


def survey_columns(customers: DataFrame) -> list[str]:
    """The psychographic survey score columns present in ``customers``."""
    return sorted(c for c in customers.columns if c.startswith(SURVEY_PREFIX))


def discover_levels(customers: DataFrame, cfg: FeaturesConfig) -> dict[str, list[str]]:
    """The most frequent values of each one-hot column, in one pass over customers."""
    present = [c for c in ONE_HOT if c in customers.columns]
    if not present:
        return {}
    pairs = F.array(*[
        F.struct(F.lit(c).alias("k"), F.col(c).cast("string").alias("v")) for c in present
    ])
    rows = (
        customers.select(F.inline(pairs))
        .where(F.col("v").isNotNull())
        .groupBy("k", "v")
        .count()
        .collect()
    )
    levels: dict[str, list[str]] = {c: [] for c in present}
    for row in sorted(rows, key=lambda r: (-r["count"], r["v"])):
        if len(levels[row["k"]]) < cfg.max_levels:
            levels[row["k"]].append(row["v"])
    return {c: sorted(v) for c, v in levels.items()}


def profile_columns(
    customers: DataFrame, as_of: date, cfg: FeaturesConfig, extra: Sequence[Column] = ()
) -> DataFrame:
    """One row per customer with the raw ``pr_*`` columns the profile features read.

    ``extra`` columns are computed over the source row in the same projection (the
    build adds the row's hash for the input digest there).
    """
    cols = set(customers.columns)
    as_of_date = F.lit(as_of.isoformat()).cast("date")
    age: Column = F.lit(None).cast("double")
    if "age" in cols:
        age = F.col("age").cast("double")
    if "birth_date" in cols:
        # Age at as_of from the birth date beats a stored age (stored at some other date).
        from_birth = F.floor(F.months_between(as_of_date, F.col("birth_date")) / 12)
        age = F.coalesce(from_birth.cast("double"), age)
    education = F.lit(None).cast("double")
    if "education" in cols:
        education = F.lit(None).cast("double")
        for rank, level in enumerate(cfg.education_levels):
            education = F.when(F.lower(F.col("education")) == level.lower(),
                               F.lit(float(rank))).otherwise(education)
    out = [
        F.col("customer_id"),
        # Ages outside 0-120 are data errors: treated as missing (and so flagged).
        F.when((age >= 0) & (age <= 120), age).alias("pr_age"),
        (F.col("income").cast("double") if "income" in cols else F.lit(None).cast("double"))
        .alias("pr_income"),
        education.alias("pr_education"),
        (F.unix_date(F.col("signup_date")) if "signup_date" in cols else F.lit(None).cast("int"))
        .alias("pr_signup_day"),
    ]
    out += [(F.col(c).cast("string") if c in cols else F.lit(None).cast("string")).alias(f"pr_{c}")
            for c in ONE_HOT]
    out += [F.col(c).cast("double").alias(f"pr_{c}") for c in survey_columns(customers)]
    return customers.select(*out, *extra)


def profile_features(
    cfg: FeaturesConfig, levels: dict[str, list[str]], surveys: list[str]
) -> list[FeatureDef]:
    """Encoded profile features over the ``pr_*`` columns."""
    age = F.col("pr_age")
    bounds = list(cfg.age_bands)
    feats = []
    edges = [None, *bounds, None]
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        if low is None:
            name, cond = f"age_under_{high}", age < high
        elif high is None:
            name, cond = f"age_{low}_plus", age >= low
        else:
            name, cond = f"age_{low}_{high - 1}", (age >= low) & (age < high)
        feats.append(FeatureDef(name, "demographic", F.when(cond, 1.0).otherwise(0.0),
                                kind="binary", doc=f"Age band at as_of ({name})."))
    feats += [
        FeatureDef("age_missing", "demographic", F.when(age.isNull(), 1.0).otherwise(0.0),
                   kind="binary", doc="Neither birth date nor a valid age is known."),
        FeatureDef("income", "demographic", F.col("pr_income"), log1p=True, impute="median",
                   indicator="income_missing", doc="Yearly household income."),
        FeatureDef("education", "demographic", F.col("pr_education"), impute="median",
                   indicator="education_missing",
                   doc=f"Education, ordinal 0-{len(cfg.education_levels) - 1}: "
                       f"{', '.join(cfg.education_levels)}."),
    ]
    for column, group in ONE_HOT.items():
        value = F.col(f"pr_{column}")
        known = levels.get(column, [])
        for level, name in level_columns(known, f"{column}_"):
            feats.append(FeatureDef(name, group, F.when(value == level, 1.0).otherwise(0.0),
                                    kind="binary", doc=f"{column} = {level!r}."))
        feats.append(FeatureDef(
            f"{column}_other", group,
            F.when(value.isNotNull() & ~value.isin(known or [""]), 1.0).otherwise(0.0),
            kind="binary", doc=f"{column} has a value not seen when the features were fitted."))
        feats.append(FeatureDef(f"{column}_missing", group,
                                F.when(value.isNull(), 1.0).otherwise(0.0), kind="binary",
                                doc=f"{column} is unknown."))
    for column in surveys:
        feats.append(FeatureDef(column, "psychographic", F.col(f"pr_{column}"), impute="median",
                                indicator=f"{column}_missing", doc=f"Survey score {column}."))
    return feats
