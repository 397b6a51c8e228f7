"""load_sources: files and catalog tables end to end, quarantine written, threshold enforced."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bigseg.config import SourceConfig, SyntheticConfig, TableSourceConfig, compose
from bigseg.data.load import load_sources
from bigseg.data.synthetic import generate
from bigseg.io.contracts import TABLE_ORDER
from bigseg.io.quarantine import QuarantineThresholdError
from bigseg.io.readers import SourceError


def _write_generated(spark, root, dirty_share):
    tables = generate(spark, SyntheticConfig(n_customers=150, dirty_share=dirty_share, seed=21))
    for name in TABLE_ORDER:
        tables[name].write.parquet(str(root / name))


def test_files_round_trip_writes_quarantine_then_enforces_the_threshold(spark, tmp_path):
    _write_generated(spark, tmp_path / "data", dirty_share=0.2)
    overrides = ["source=files", f"paths.root={tmp_path}", "source.max_quarantine_share=0.01"]
    cfg = compose("pipeline", overrides)
    assert cfg.source.transactions.path == str(tmp_path / "data" / "transactions")
    with pytest.raises(
        QuarantineThresholdError,
        match=r"table 'customers': \d+ of \d+ rows \(\d+\.\d+%\) quarantined, above "
        r"max_quarantine_share=0.01; most frequent reason '\w+' \(\d+ rows\), example row: \{",
    ):
        load_sources(spark, cfg.source, cfg.paths)
    # Nothing is lost: quarantine and report were written before the check failed.
    saved = json.loads((tmp_path / "reports" / "quarantine.json").read_text())
    assert set(saved) == {"customers", "identities", "transactions"}  # optional: not set
    for name, counts in saved.items():
        written = spark.read.parquet(str(tmp_path / "quarantine" / name))
        assert written.columns == ["table", "reason", "reasons", "row"]
        by_reason = {r.reason: r["count"] for r in written.groupBy("reason").count().collect()}
        assert by_reason == counts["by_reason"], name
        assert counts["rows_in"] == counts["rows_used"] + counts["rows_quarantined"] > 0


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            dict(kind="kafka"),
            ValueError,
            r"source.kind='kafka' should be one of \['synthetic', 'cdnow', 'files'\]",
        ),
        (
            dict(max_quarantine_share=2.0),
            ValueError,
            r"max_quarantine_share=2.0 should be within \[0, 1\]",
        ),
        (dict(kind="files"), SourceError, r"table 'customers' is required but has no source"),
        (
            dict(kind="files", customers=TableSourceConfig(path="/nonexistent/customers")),
            SourceError,
            r"cannot read table 'customers' from /nonexistent/customers \(format parquet\)",
        ),
    ],
)
def test_bad_source_configs_fail_clearly(spark, change, error, match):
    with pytest.raises(error, match=match):
        load_sources(spark, replace(SourceConfig(), **change))
