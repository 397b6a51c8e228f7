"""Fitted transforms and the feature metadata that lets them be applied again.

Per feature, in this order: impute (missing value -> fitted value, indicator column set),
log1p (skewed money and count features), scaling (standard: mean/std; robust:
median/IQR; none), group weight. The ``features`` column is the array<float> of the
transformed values, optionally projected on principal components.

Every fitted number (impute values, scaler centre and scale, weights, PCA mean and
components) and everything that decides which columns exist (levels, RFM cut points,
CLV parameters) lives in :class:`FeatureMetadata`, saved as JSON. Building features with
that metadata (``build_features(..., metadata=m)``) fits nothing: new customers get
exactly the values the fitted population would have given them.

Binary columns (one-hot levels, missing-value indicators) are never log-transformed or
scaled: they stay 0/1 (times their group weight), which keeps them interpretable and
keeps a rare level from being blown up to a huge z-score.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bigseg.features.spec import FeatureDef

log = logging.getLogger(__name__)

METADATA_VERSION = 1
SCALERS = ("standard", "robust", "none")
VECTOR = "features"


@dataclass
class FeatureMetadata:
    """Everything needed to rebuild the same features for new customers (JSON-safe).

    ``features``: one dict per named column, in vector order for those in the vector:
    name, group, kind, doc, log1p, impute {strategy, value}, indicator, scale
    {method, center, scale}, weight, in_vector.
    """

    as_of: str
    config: dict[str, Any]
    levels: dict[str, Any]
    features: list[dict[str, Any]]
    rfm_cuts: dict[str, list[float]] = field(default_factory=dict)
    clv: dict[str, Any] | None = None
    pca: dict[str, Any] | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    quarantine: dict[str, Any] = field(default_factory=dict)
    version: int = METADATA_VERSION

    @property
    def vector_names(self) -> list[str]:
        """Names of the columns in the ``features`` vector (before any PCA), in order."""
        return [f["name"] for f in self.features if f["in_vector"]]

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.features]

    def feature(self, name: str) -> dict[str, Any]:
        for f in self.features:
            if f["name"] == name:
                return f
        raise KeyError(f"no feature {name!r}; features: {self.names}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureMetadata:
        data = json.loads(text)
        if data.get("version") != METADATA_VERSION:
            raise ValueError(
                f"feature metadata version={data.get('version')!r} is not supported; "
                f"this bigseg reads version {METADATA_VERSION}"
            )
        return cls(**data)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureMetadata:
        return cls.from_json(Path(path).read_text())


# ---- imputation and indicators -------------------------------------------------------------


def indicator_sources(defs: Sequence[FeatureDef]) -> dict[str, str]:
    """Indicator name -> the feature whose missingness defines it (its first declarer)."""
    sources: dict[str, str] = {}
    for d in defs:
        if d.indicator and d.indicator not in sources:
            sources[d.indicator] = d.name
    return sources


def imputation_aggs(defs: Sequence[FeatureDef], accuracy: int) -> list[Column]:
    """Aggregates for :func:`impute_values`: medians, maxima, and null counts where
    the policy allows none. Callers may run them with other aggregates in one pass."""
    aggs: list[Column] = []
    for d in defs:
        col = F.col(d.name)
        if d.impute == "median":
            aggs.append(F.percentile_approx(col, 0.5, accuracy).alias(f"impute:{d.name}"))
        elif d.impute == "max":
            aggs.append(F.max(col).alias(f"impute:{d.name}"))
        elif d.impute == "never":
            missing = col.isNull() | F.isnan(col.cast("double"))
            aggs.append(F.count(F.when(missing, 1)).alias(f"nulls:{d.name}"))
    return aggs


def impute_values(defs: Sequence[FeatureDef], row: dict[str, Any]) -> dict[str, float]:
    """Impute value per feature from the :func:`imputation_aggs` results in ``row``.

    Fails when a feature whose policy is ``never`` has missing values: a null must not
    slip into the vector. Features absent from ``row`` are not checked (callers use that
    for features that cannot be null by construction).
    """
    bad = {d.name: row[f"nulls:{d.name}"] for d in defs if row.get(f"nulls:{d.name}")}
    if bad:
        raise ValueError(
            f"features {sorted(bad)} have missing values (counts {bad}) but their policy "
            f"is impute='never'; give them an impute strategy and an indicator"
        )
    values = {}
    for d in defs:
        if d.impute == "zero":
            values[d.name] = 0.0
        elif d.impute in ("median", "max"):
            fitted = row.get(f"impute:{d.name}")
            # Nobody has a value: the feature is missing for all; 0 keeps it finite.
            values[d.name] = float(fitted) if fitted is not None else 0.0
    return values


def fit_imputation(raw: DataFrame, defs: Sequence[FeatureDef], accuracy: int) -> dict[str, float]:
    """Impute values per feature from one aggregation over ``raw`` (one column per
    feature name); median and max are taken over the customers with a value."""
    aggs = imputation_aggs(defs, accuracy)
    row = raw.agg(*aggs).first().asDict() if aggs else {}
    return impute_values(defs, row)


def named_columns(defs: Sequence[FeatureDef], impute: dict[str, float]) -> list[Column]:
    """Imputed feature columns and their indicators, over columns named by the features."""
    cols = []
    sources = indicator_sources(defs)
    emitted: set[str] = set()
    for d in defs:
        col = F.col(d.name).cast("double")
        if d.impute == "never":
            cols.append(col.alias(d.name))
        else:
            cols.append(F.coalesce(F.nanvl(col, F.lit(None)), F.lit(impute[d.name])).alias(d.name))
        if d.indicator and d.indicator not in emitted:
            source = F.col(sources[d.indicator])
            missing = source.isNull() | F.isnan(source.cast("double"))
            cols.append(F.when(missing, 1.0).otherwise(0.0)
                        .alias(d.indicator))
            emitted.add(d.indicator)
    return cols


def feature_entries(
    defs: Sequence[FeatureDef], impute: dict[str, float], groups: Iterable[str]
) -> list[dict[str, Any]]:
    """Metadata entries of every named column (features and indicators), vector order."""
    chosen = set(groups)
    entries = []
    emitted: set[str] = set()
    for d in defs:
        entries.append({
            "name": d.name, "group": d.group, "kind": d.kind, "doc": d.doc,
            "log1p": d.log1p, "indicator": d.indicator,
            "impute": {"strategy": d.impute, "value": impute.get(d.name)},
            "in_vector": d.group in chosen,
        })
        if d.indicator and d.indicator not in emitted:
            emitted.add(d.indicator)
            entries.append({
                "name": d.indicator, "group": d.group, "kind": "binary",
                "doc": f"1 where {d.name} was missing (and imputed).",
                "log1p": False, "indicator": None,
                "impute": {"strategy": "never", "value": None},
                "in_vector": d.group in chosen,
            })
    return entries


# ---- log1p, scaling, weights -----------------------------------------------------------------


def pre_scale(entry: dict[str, Any], use_log1p: bool) -> Column:
    """The value before scaling: log1p for skewed features (negatives clipped to 0)."""
    col = F.col(entry["name"]).cast("double")
    if use_log1p and entry["log1p"]:
        # log1p needs x > -1; skewed features are non-negative by construction, the clip
        # only guards odd inputs (a net-negative revenue) against NaN.
        return F.log1p(F.greatest(col, F.lit(0.0)))
    return col


def fit_scaler(
    named: DataFrame, entries: list[dict[str, Any]], method: str, use_log1p: bool, accuracy: int
) -> int:
    """Fill ``entry["scale"]`` = {method, center, scale} for every entry, in one pass.

    Returns the number of rows (customers) the statistics were fitted on.
    """
    if method not in SCALERS:
        raise ValueError(f"scaler={method!r} should be one of {SCALERS}")
    numeric = [e for e in entries if e["kind"] == "numeric" and method != "none"]
    # The row count rides along: callers learn the number of customers from this pass.
    aggs = [F.count(F.lit(1)).alias("n")]
    for i, e in enumerate(numeric):
        x = pre_scale(e, use_log1p)
        if method == "standard":
            aggs += [F.avg(x).alias(f"c{i}"), F.stddev_pop(x).alias(f"s{i}")]
        else:
            aggs.append(F.percentile_approx(x, [0.25, 0.5, 0.75], accuracy).alias(f"q{i}"))
    row = named.agg(*aggs).first()
    for e in entries:
        e["scale"] = {"method": "none", "center": 0.0, "scale": 1.0}
    for i, e in enumerate(numeric):
        if method == "standard":
            center, spread = row[f"c{i}"], row[f"s{i}"]
        else:
            q = row[f"q{i}"]
            center, spread = (q[1], q[2] - q[0]) if q else (None, None)
        center = float(center) if center is not None else 0.0
        # A constant column (or an IQR of 0, common for sparse counts) keeps scale 1: the
        # column is then only centred, rather than divided by zero.
        spread = float(spread) if spread and spread > 1e-12 else 1.0
        e["scale"] = {"method": method, "center": center, "scale": spread}
    return int(row["n"])


def set_weights(entries: list[dict[str, Any]], weights: dict[str, float], balance: bool) -> None:
    """``entry["weight"]`` = its group's weight (default 1), optionally / sqrt(group size)."""
    sizes: dict[str, int] = {}
    for e in entries:
        if e["in_vector"]:
            sizes[e["group"]] = sizes.get(e["group"], 0) + 1
    for e in entries:
        w = float(weights.get(e["group"], 1.0))
        if balance and e["in_vector"]:
            w /= math.sqrt(sizes[e["group"]])
        e["weight"] = w


def transformed(entry: dict[str, Any], use_log1p: bool) -> Column:
    """One feature's final value: ((pre_scale - center) / scale) * weight."""
    s = entry["scale"]
    x = pre_scale(entry, use_log1p)
    return (x - F.lit(s["center"])) / F.lit(s["scale"]) * F.lit(entry["weight"])


def vector_column(entries: list[dict[str, Any]], use_log1p: bool) -> Column:
    """The array<float> of the transformed in-vector features, in metadata order."""
    parts = [transformed(e, use_log1p) for e in entries if e["in_vector"]]
    if not parts:
        raise ValueError("no feature is in the vector: check features.groups")
    return F.array(*parts).cast("array<float>")


# ---- PCA -------------------------------------------------------------------------------------


def _moments(batches):
    """Per-partition n, sum and X^T X of the feature vectors (float64), one output row."""
    n, total, gram = 0, None, None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        col = batch.column(VECTOR)
        d = len(col[0].as_py())
        x = col.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, d)
        if total is None:
            total, gram = np.zeros(d), np.zeros((d, d))
        n += x.shape[0]
        total += x.sum(axis=0)
        gram += x.T @ x
    if total is not None:
        yield pa.RecordBatch.from_pydict({
            "n": [n], "total": [total.tolist()], "gram": [gram.ravel().tolist()],
        })


def fit_pca(df: DataFrame, k: int) -> dict[str, Any]:
    """Principal components of the ``features`` column: mean, components, variance shares.

    Moments are summed per partition in the executors (Arrow -> numpy) and combined on
    the driver; the d x d eigendecomposition is small.
    """
    rows = df.select(VECTOR).mapInArrow(
        _moments, "n long, total array<double>, gram array<double>"
    ).collect()
    if not rows:
        raise ValueError("PCA: there are no customers to fit on")
    n = sum(r["n"] for r in rows)
    total = np.sum([np.asarray(r["total"]) for r in rows], axis=0)
    d = total.size
    if not 1 <= k <= d:
        raise ValueError(f"pca_components={k} should be within [1, {d}] (the vector size)")
    gram = np.sum([np.asarray(r["gram"]).reshape(d, d) for r in rows], axis=0)
    mean = total / n
    cov = gram / n - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:k]
    components = vectors[:, order].T
    # Sign convention: the largest loading of each component is positive (deterministic).
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    explained = np.clip(values[order], 0.0, None) / max(float(np.clip(values, 0, None).sum()), 1e-300)
    return {"k": k, "mean": mean.tolist(), "components": components.tolist(),
            "explained_variance_ratio": explained.tolist()}


def pca_column(pca: dict[str, Any]) -> Column:
    """``features`` projected on the fitted components (a vectorised pandas UDF)."""
    mean = np.asarray(pca["mean"], dtype=np.float64)
    components = np.asarray(pca["components"], dtype=np.float64)

    @F.pandas_udf("array<float>")
    def project(vectors: pd.Series) -> pd.Series:
        if len(vectors) == 0:
            return pd.Series([], dtype=object)
        x = np.stack(vectors.to_numpy()).astype(np.float64)
        y = ((x - mean) @ components.T).astype(np.float32)
        return pd.Series(list(y))

    return project(F.col(VECTOR))
