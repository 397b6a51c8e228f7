"""A customer table with three planted segments, shared by the segments tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Three planted segments, each far from the others on one trait.
PLANTED = {
    "big_spenders": {"monetary": 900.0, "recency_days": 20.0, "discount_share": 0.1},
    "lapsed": {"monetary": 150.0, "recency_days": 300.0, "discount_share": 0.1},
    "deal_seekers": {"monetary": 150.0, "recency_days": 20.0, "discount_share": 0.8},
}
TRAITS = {"big_spenders": "monetary", "lapsed": "recency_days", "deal_seekers": "discount_share"}
NOISE = {"monetary": 40.0, "recency_days": 15.0, "discount_share": 0.05}


def planted_frame(spark, n_per=50, seed=0):
    rng = np.random.default_rng(seed)
    cols = {"customer_id": [], "truth": [], "noise": []}
    for f in NOISE:
        cols[f] = []
    for name, means in PLANTED.items():
        cols["customer_id"] += [f"{name}-{i}" for i in range(n_per)]
        cols["truth"] += [name] * n_per
        for f, mean in means.items():
            cols[f] += list(np.abs(mean + NOISE[f] * rng.standard_normal(n_per)))
        # A column that is pure noise: weighted 0, it must not matter.
        cols["noise"] += list(1000 * rng.standard_normal(n_per))
    return spark.createDataFrame(pd.DataFrame(cols)).coalesce(1)
