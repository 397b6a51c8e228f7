"""Input data: the synthetic multi-channel generator, the bundled CDNOW sample, loading.

- bigseg.data.synthetic: ``generate(spark, SyntheticConfig)`` -> the five contract
  tables plus ``ground_truth``, ``planted_effects`` and the planted drift
  (``planted_migrations``, ``customer_migrations``);
- bigseg.data.segments: the planted segment profiles;
- bigseg.data.cdnow: ``cdnow_path()``, ``load_cdnow(spark, TableSourceConfig)``;
- bigseg.data.load: ``load_sources(spark, SourceConfig, PathsConfig)`` -> validated
  tables, quarantine and report, for source kinds synthetic | cdnow | files.
"""
