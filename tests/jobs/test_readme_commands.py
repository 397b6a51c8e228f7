"""The README's commands, run as written: the quickstart's `scripts/dev run`, every line
of the Jobs section's block in order, and the local `bigseg doctor`, in one home folder
(BIGSEG_HOME), with `python` the project's interpreter as after `source .venv/bin/activate`.
What each leaves behind is asserted, so this is the python end-to-end test of the jobs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from job_chain import REPO, client_for, job_env

pytestmark = pytest.mark.slow


def readme_bash_blocks() -> list[list[str]]:
    """The README's bash blocks as lists of command lines (continuations joined)."""
    text = (REPO / "README.md").read_text()
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
        blocks.append([line for line in lines if line and not line.startswith("#")])
    return blocks


def commands_to_run() -> list[str]:
    blocks = readme_bash_blocks()
    lines = [line for block in blocks for line in block]
    quickstart = next(line for line in lines if line.startswith("scripts/dev run"))
    jobs_block = next(b for b in blocks if b and b[0].startswith("python jobs/build_features.py"))
    doctor = next(line for line in lines if re.match(r"\.venv/bin/bigseg doctor\s*(#|$)", line))
    return [quickstart, *jobs_block, doctor]


def test_the_readme_commands_are_found():
    commands = commands_to_run()
    jobs = [shlex.split(c, comments=True)[1] for c in commands if c.startswith("python ")]
    assert commands[0].startswith("scripts/dev run")
    assert {Path(j).stem for j in jobs} == {"build_features", "train", "assign", "profiles",
                                            "compare"}, commands
    assert commands[-1].startswith(".venv/bin/bigseg doctor")


@pytest.mark.timeout(3000)
def test_readme_commands_run_as_written(tmp_path):
    import pandas as pd

    from bigseg.tracking.versions import get_segment_version, list_segment_versions

    env = job_env(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for command in commands_to_run():
        proc = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=1200)
        assert proc.returncode == 0, (command, proc.stdout[-3000:], proc.stderr[-6000:])
    client = client_for(tmp_path)

    # scripts/dev run: the pipeline's version 1 with its report.
    first = get_segment_version(client, "bigseg-segments", "1")
    assert len(first.sizes) == 8 and sum(first.sizes.values()) > 4500
    assert (tmp_path / "reports" / "bigseg-segments-v1" / "report.html").is_file()
    # build_features as of 2026-01-01, then train with the k sweep on that table.
    second = get_segment_version(client, "bigseg-segments", "2")
    assert second.as_of == "2026-01-01"
    assert 2 <= len(second.sizes) <= 12
    # assign: later data scored with the champion, the same ids.
    third = get_segment_version(client, "bigseg-segments", "3")
    assert third.as_of == "2026-03-01"
    scored_with = third.tags["bigseg.segments.scored_with"]
    assert scored_with in {"1", "2"}
    assert set(third.sizes) <= set(get_segment_version(client, "bigseg-segments",
                                                       scored_with).sizes)
    # profiles of version 2.
    profile = tmp_path / "reports" / "bigseg-segments-v2-profile"
    assert (profile / "report.html").is_file()
    # compare: the newest two versions at that time.
    found = sorted((tmp_path / "reports" / "compare").glob("*/versions.csv"))
    assert len(found) == 1
    assert pd.read_csv(found[0])["version"].astype(str).tolist() == ["2", "3"]
    # the sweep: one parent run, a child and a version per k.
    experiment = client.get_experiment_by_name("bigseg").experiment_id
    parents = client.search_runs([experiment], "tags.`bigseg.sweep` = 'parent'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'")
    assert sorted(int(c.data.params["model.k"]) for c in children) == [6, 8, 12]
    assert len(list_segment_versions(client, "bigseg-segments")) == 6
