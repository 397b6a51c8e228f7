"""segment_customers end to end on a planted table: rule columns, behavioural segments,
profiles, actions, audiences and the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F
from seg_planted import NOISE, planted_frame
from sklearn.metrics import adjusted_rand_score

from bigseg.config import BehaviouralConfig, ProfileConfig, SegmentsConfig
from bigseg.segments import load_ruleset, segment_customers

RULES = Path(__file__).resolve().parents[2] / "bigseg" / "conf" / "segments" / "rules"


def test_segment_customers_end_to_end(spark, tmp_path):
    df = planted_frame(spark, n_per=30)
    # Scores 1-5 from the planted traits, so the RFM rule set has something to read.
    df = (df.withColumn("r_score", F.when(F.col("recency_days") > 150, 1).otherwise(5))
            .withColumn("f_score", F.lit(3)).withColumn("m_score",
                                                         F.when(F.col("monetary") > 500, 5)
                                                         .otherwise(3)))
    cfg = SegmentsConfig(
        rules=["rfm"], rulesets={"rfm": load_ruleset(RULES / "rfm.yaml")},
        behavioural=BehaviouralConfig(groups={"all": list(NOISE)}, k=3, max_iter=10),
        profile=ProfileConfig(features=[*NOISE, "absent_feature"], revenue_col="monetary",
                              channel_prefix="",
                              vocabulary={"recency_days": {"high": "lapsed"}}),
        playbook=[{"name_contains": "lapsed", "action": "win-back offer"}],
    )
    run = segment_customers(df, cfg, tmp_path / "out", title="planted")
    try:
        rows = run.df.select("truth", "segment", "segment_rfm").collect()
        assert adjusted_rand_score([r.truth for r in rows], [r.segment for r in rows]) == 1.0
        rfm = {(r.truth, r.segment_rfm) for r in rows}
        assert rfm == {("lapsed", "At Risk"), ("big_spenders", "Champions"),
                       ("deal_seekers", "Potential Loyalists")}
        assert run.rule_checks["rfm"].is_partition
        lapsed = next(r.segment for r in rows if r.truth == "lapsed")
        assert run.profiles.names()[str(lapsed)].startswith("lapsed")
        assert run.actions[str(lapsed)] == "win-back offer"
        assert sorted(run.profiles.features) == sorted(NOISE)  # the absent one left out
        manifest = pd.read_csv(tmp_path / "out" / "audiences" / "manifest.csv")
        assert manifest["customers"].sum() == 90
        page = run.report.read_text(encoding="utf-8")
        assert "RFM grid" in page and "planted" in page and "win-back offer" in page
    finally:
        run.unpersist()
