"""Audience files read back, and the HTML report (images decode; headless Chromium when
installed)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from bigseg.config import ProfileConfig
from bigseg.evaluation.ksweep import KSweepResult
from bigseg.segments import (
    audience_name,
    export_audiences,
    profile_segments,
    rfm_grid_counts,
    sample_for_projection,
    write_report,
)
from bigseg.segments.rules import RuleCheck

ROWS = [("c1", "Champions"), ("c2", "Champions"), ("c3", "Can't Lose Them"), ("c4", None),
        ("c5", "At Risk")]


def test_audience_files_per_segment_in_parquet_and_csv(spark, tmp_path):
    df = spark.createDataFrame(ROWS, "customer_id string, seg string")
    actions = {"Champions": "reward", "Can't Lose Them": "call them"}
    export = export_audiences(df, "seg", actions, tmp_path / "aud", default_action="monitor")
    manifest = export.manifest.set_index("segment")
    assert manifest["customers"].to_dict() == {"At Risk": 1, "Can't Lose Them": 1,
                                               "Champions": 2}
    assert manifest["action"].to_dict() == {"At Risk": "monitor", "Can't Lose Them": "call them",
                                            "Champions": "reward"}
    assert (tmp_path / "aud" / "manifest.csv").exists()
    assert (tmp_path / "aud" / "csv" / "audience=can_t_lose_them").is_dir()
    assert audience_name("Can't Lose Them") == "can_t_lose_them"
    for fmt in ("parquet", "csv"):
        reader = spark.read.option("header", "true") if fmt == "csv" else spark.read
        back = getattr(reader, fmt)(str(export.paths[fmt]))
        got = sorted((r.customer_id, r.segment, r.action, r.audience) for r in back.collect())
        assert got == [("c1", "Champions", "reward", "champions"),
                       ("c2", "Champions", "reward", "champions"),
                       ("c3", "Can't Lose Them", "call them", "can_t_lose_them"),
                       ("c5", "At Risk", "monitor", "at_risk")]
    with pytest.raises(ValueError, match=r"formats=\['xml'\] should be a non-empty subset"):
        export_audiences(df, "seg", actions, tmp_path / "x", formats=["xml"])
    with pytest.raises(ValueError, match="column 'nope' is not in the table"):
        export_audiences(df, "nope", actions, tmp_path / "x")


@pytest.fixture
def report(spark, tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"c{i}", str(i % 3), float(rng.normal(100 * (1 + i % 3), 5)),
             float(rng.normal(5, 1)), [float(i % 3) + rng.normal(0, 0.1), rng.normal()],
             int(1 + i % 5), int(1 + (i // 5) % 5)) for i in range(60)]
    df = spark.createDataFrame(rows, "customer_id string, seg string, monetary double, "
                                     "frequency double, features array<double>, r int, fm int")
    profiles = profile_segments(df, "seg", ProfileConfig(features=["monetary", "frequency"],
                                                         channel_prefix=""))
    sweep = KSweepResult(
        table=pd.DataFrame({"k": [2, 3, 4], "inertia": [9.0, 4.0, 3.5],
                            "silhouette": [0.5, 0.8, 0.6], "davies_bouldin": [0.9, 0.4, 0.7],
                            "calinski_harabasz": [50.0, 120.0, 90.0],
                            "stability_ari": [1.0, 1.0, 0.6]}),
        recommended_k=3, rule="highest silhouette among stable k")
    counts, names = rfm_grid_counts(df, "r", "fm", "seg")
    check = RuleCheck("rfm", n_rows=60, sizes={"A": 40, "B": 20}, n_uncovered=0, n_overlap=0)
    path = write_report(tmp_path / "report" / "segments.html", title="Test segments",
                        profiles=profiles, actions={"0": "win-back"}, sweep=sweep,
                        projection=sample_for_projection(df, "features", "seg", n=50),
                        rfm=(counts, names), rule_checks={"rfm": check})
    return path, counts


def test_report_is_self_contained_and_every_image_decodes(report):
    path, counts = report
    assert counts.to_numpy().sum() == 60 and counts.shape == (5, 5)
    page = path.read_text(encoding="utf-8")
    assert "Recommended k = 3" in page and "win-back" in page and "RFM grid" in page
    # No network: nothing is fetched from anywhere.
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 6  # sizes, lifts, projection, k curves, RFM grid, rule set sizes
    for data in images:
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH (CI installs Debian's)")
def test_report_in_headless_chromium(report):
    path, _ = report
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--virtual-time-budget=10000", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    body = re.search(r"<body[^>]*>", out.stdout)
    assert body, out.stdout[:500]
    assert 'data-images-ok="6"' in body.group(0) and 'data-images-bad="0"' in body.group(0)
