"""Per-customer features: identity resolution, windowed behaviour, RFM, CLV, transforms.

The one call a job makes is :func:`bigseg.features.build.build_features`; it returns a
:class:`~bigseg.features.build.FeatureSet` (the feature table, the
:class:`~bigseg.features.transform.FeatureMetadata` to save as JSON, the quarantined
rows and the row accounting). Modules, one job each:

- ``identity``: channel ids -> customer_id; unattributable rows kept with a reason;
- ``behaviour``: transaction and event aggregates (one pass per table) and their features;
- ``profile``: demographic, geographic and psychographic encodings;
- ``value``: RFM scores; ``clv`` (numpy) and ``clv_spark``: BG/NBD + Gamma-Gamma;
- ``spec``: feature definitions and the missing-value policy;
- ``transform``: imputation, log1p, scaling, weights, PCA and the metadata.

Submodules import pyspark; this package's import does not, so ``bigseg.features.clv``
stays usable without Spark.
"""
