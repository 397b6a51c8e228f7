"""The README's job commands, as written: each composes its config (Hydra's `--cfg job`),
so a renamed key or job in the code cannot leave the README's examples broken. The jobs
themselves run end to end, with small data, in tests/jobs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_job_commands() -> list[tuple[str, list[str]]]:
    """(job file, arguments after it) of every command line in the README's bash blocks
    that runs a job, with python or spark-submit (continuation lines joined)."""
    text = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            jobs = [i for i, w in enumerate(words) if re.fullmatch(r"jobs/\w+\.py", w)]
            if jobs:
                found.append((words[jobs[0]], words[jobs[0] + 1:]))
    return found


COMMANDS = readme_job_commands()


def test_the_readme_shows_every_kind_of_job_command():
    shown = {Path(job).stem for job, _ in COMMANDS}
    assert {"build_features", "train", "assign", "profiles", "compare", "pipeline",
            "doctor"} <= shown, shown


@pytest.mark.parametrize(("job", "args"), COMMANDS, ids=[" ".join([j, *a]) for j, a in COMMANDS])
def test_readme_job_command_composes_as_written(job, args, tmp_path):
    env = dict(os.environ, BIGSEG_HOME=str(tmp_path))
    if "-m" in args:
        # Hydra composes one config at a time: a sweep is checked at its first point.
        args = [re.sub(r"^([\w.]+)=([^,\[]+),.*$", r"\1=\2", a) for a in args if a != "-m"]
    # --cfg job composes and prints the config without running the job (no Spark).
    proc = subprocess.run([sys.executable, job, *args, "--cfg", "job"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"job: {Path(job).stem}" in proc.stdout
