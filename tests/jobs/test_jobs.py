"""Jobs that fail for good, run as a user runs them (`python jobs/<job>.py key=value ...`).
The jobs' python end-to-end run is the README's own commands (test_readme_commands.py);
through spark-submit on a cluster, test_jobs_cluster.py."""

from __future__ import annotations

import re

import pytest
from job_chain import python_job

pytestmark = pytest.mark.slow

@pytest.mark.parametrize(("job", "overrides", "reason"), [
    ("train", ["inputs.features=/nonexistent/features"],
     r"FileNotFoundError: inputs.features='/nonexistent/features' is not a features table"),
    ("pipeline", ["tracking.uri=http://127.0.0.1:9"], r"http://127.0.0.1:9"),
    ("pipeline", ["source.kind=nope"], r"source.kind='nope' should be one of"),
    ("pipeline", ["model.kk=3"], r"Could not override 'model.kk'"),
    ("build_features", ["source=files", "paths.data=/nonexistent/data"],
     r"SourceError: .*/nonexistent/data/customers"),
])
def test_a_failing_job_exits_nonzero_with_a_one_line_reason(tmp_path, job, overrides, reason):
    proc = python_job(job, tmp_path, *overrides)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if re.search(reason, line)]
    assert lines, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # Nothing half-written is visible: no segment version folder, no features table.
    assert not list(tmp_path.glob("segments/*/version=*"))
    assert not list(tmp_path.glob("features/*/_feature_metadata.json"))
