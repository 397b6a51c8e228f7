"""Reading, checking and quarantining the input tables of the data contract.

- bigseg.io.contracts: the five tables' Spark schemas, keys, references, column docs;
- bigseg.io.readers: ``read_table(spark, TableSourceConfig, table)`` for Parquet, CSV,
  JSON, ORC, whitespace text and catalog tables, with column mapping, constants, row
  ids, timestamp format and time zone;
- bigseg.io.validation: ``validate(df, table, ...)`` -> ValidatedTable (used rows,
  quarantined rows with reasons, report);
- bigseg.io.quarantine: TableReport / QuarantineReport, ``check_threshold``,
  ``write_quarantine``.
"""
