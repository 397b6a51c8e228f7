"""The job chain the cluster tests run through `spark-submit` (the python chain is the
README's own commands, test_readme_commands.py).

One home folder (BIGSEG_HOME) is shared by the chain, so each job reads what the one
before wrote: pipeline -> assign -> profiles -> build_features -> train -> compare.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Small and quick: a few hundred customers, few iterations, no UI.
COMMON = [
    "source.synthetic.n_customers=300", "features.as_of=2026-01-01", "model.k=6",
    "model.max_iter=10", "spark.master='local[2]'", "spark.show_progress=false",
    "+spark.conf.spark.ui.enabled=false", "spark.shuffle_partitions=4",
]


def job_env(home: Path) -> dict[str, str]:
    return dict(os.environ, BIGSEG_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1",
                PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)


def run(cmd: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=job_env(home), capture_output=True, text=True,
                          timeout=timeout)


def job_args(common: list[str], overrides: tuple[str, ...]) -> list[str]:
    """Hydra's flags (``-m``) first: argparse stops at them after positional overrides."""
    flags = [o for o in overrides if o.startswith("-")]
    return [*flags, *common, *(o for o in overrides if not o.startswith("-"))]


def python_job(job: str, home: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run([sys.executable, f"jobs/{job}.py", *job_args(COMMON, overrides)], home)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (proc.stdout[-3000:] + proc.stderr[-6000:])
    return proc


def client_for(home: Path):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")


def check_chain(home: Path, submit) -> None:
    """The job chain through ``submit(job, *overrides)``; asserts what each left behind.

    Each job runs once: pipeline (version 1 and a features table), assign (version 2,
    later data, the champion's transform), profiles, build_features + train (version 3
    on newer features) and compare.
    """
    import pandas as pd

    from bigseg.tracking.versions import get_segment_version

    ok(submit("pipeline"))
    client = client_for(home)
    first = get_segment_version(client, "bigseg-segments", "champion")
    assert first.version == "1" and sorted(first.sizes) == list(range(6))
    assert (home / "reports" / "bigseg-segments-v1" / "report.html").is_file()
    assert len(list((home / "features").glob("*/_feature_metadata.json"))) == 1

    # Scoring later data with the champion: a new version with the same ids.
    ok(submit("assign", "features.as_of=2026-03-01"))
    second = get_segment_version(client, "bigseg-segments", "2")
    assert second.as_of == "2026-03-01"
    assert set(second.sizes) <= set(first.sizes)
    assert second.tags["bigseg.segments.scored_with"] == "1"

    ok(submit("profiles", "inputs.version=2"))
    profile = home / "reports" / "bigseg-segments-v2-profile"
    assert (profile / "report.html").is_file()
    assert len(list((profile / "audiences").rglob("*.csv"))) >= 1

    ok(submit("build_features", "features.as_of=2026-06-01"))
    assert len(list((home / "features").glob("*/_feature_metadata.json"))) == 3
    ok(submit("train"))  # the newest features table
    third = get_segment_version(client, "bigseg-segments", "3")
    assert third.as_of == "2026-06-01"

    ok(submit("compare"))
    found = sorted((home / "reports" / "compare").glob("*/versions.csv"))
    assert len(found) == 1
    versions = pd.read_csv(found[0])
    assert versions["version"].astype(str).tolist() == ["2", "3"]
    assert 0.0 <= versions["stayed_share"].iloc[1] <= 1.0

