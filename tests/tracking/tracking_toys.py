"""Small hand-made inputs for the tracking tests: feature metadata, customers, tables."""

from __future__ import annotations

import numpy as np
import pandas as pd


def entry(name, *, log1p=False, impute=("median", 0.0), center=0.0, scale=1.0, weight=1.0,
          indicator=None, kind="numeric", group="value"):
    strategy, value = impute
    return {
        "name": name, "group": group, "kind": kind, "doc": "", "log1p": log1p,
        "indicator": indicator, "impute": {"strategy": strategy, "value": value},
        "in_vector": True,
        "scale": {"method": "standard" if kind == "numeric" else "none",
                  "center": center, "scale": scale},
        "weight": weight,
    }


def toy_metadata(pca=None):
    """Four vector features: a skewed money feature with a missing indicator, a count,
    a rate with a group weight, and the indicator itself."""
    return {
        "as_of": "2025-01-01", "config": {"log1p": True}, "levels": {},
        "features": [
            entry("revenue_365d", log1p=True, impute=("median", 120.0), center=4.0,
                  scale=1.5, indicator="revenue_365d_missing"),
            entry("revenue_365d_missing", impute=("never", None), kind="binary"),
            entry("orders_90d", log1p=True, impute=("zero", 0.0), center=1.0, scale=0.8),
            entry("email_open_rate", impute=("median", 0.2), center=0.25, scale=0.1,
                  weight=0.5, group="engagement"),
        ],
        "rfm_cuts": {}, "clv": None, "pca": pca, "inputs": {}, "quarantine": {},
        "version": 1,
    }


RAW_COLUMNS = ["revenue_365d", "orders_90d", "email_open_rate"]


def toy_customers(n=300, seed=0):
    """Raw feature columns of three customer groups (low, mid, high value), some missing."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, size=n)
    revenue = np.array([20.0, 300.0, 3000.0])[group] * rng.lognormal(0, 0.2, n)
    orders = np.array([0.0, 3.0, 12.0])[group] + rng.poisson(1, n)
    rate = np.array([0.05, 0.25, 0.5])[group] + rng.normal(0, 0.02, n)
    frame = pd.DataFrame({"customer_id": np.arange(n, dtype=np.int64),
                          "revenue_365d": revenue, "orders_90d": orders,
                          "email_open_rate": rate})
    frame.loc[frame.index % 17 == 0, "revenue_365d"] = np.nan
    frame.loc[frame.index % 23 == 0, "email_open_rate"] = np.nan
    return frame, group


def spark_features(spark, frame, metadata):
    """``customer_id`` and ``features`` as bigseg.features.transform builds the column
    (impute, indicator, log1p, scale, weight, PCA) over the same raw values."""
    from pyspark.sql import functions as F

    from bigseg.features import transform

    raw = spark.createDataFrame(frame)

    def imputed(name, value):
        return F.coalesce(F.nanvl(F.col(name), F.lit(None)), F.lit(value)).alias(name)

    # Imputation and the indicator, as named_columns builds them (values fitted already).
    named = raw.select(
        "customer_id",
        imputed("revenue_365d", 120.0),
        F.when(F.col("revenue_365d").isNull() | F.isnan("revenue_365d"), 1.0).otherwise(0.0)
        .alias("revenue_365d_missing"),
        imputed("orders_90d", 0.0),
        imputed("email_open_rate", 0.2),
    )
    df = named.withColumn("features", transform.vector_column(metadata["features"], True))
    if metadata.get("pca"):
        df = df.withColumn("features", transform.pca_column(metadata["pca"]))
    return df.select("customer_id", "features")
