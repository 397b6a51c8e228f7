"""Dynamic segmentation: segment versions as of a series of dates, and their migrations.

    python jobs/dynamic.py [overrides]
    python jobs/dynamic.py "dynamic.dates=[2025-01-01,2025-07-01,2026-01-01]"
    spark-submit --master spark://host:7077 jobs/dynamic.py dynamic.every_days=30
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.dynamic import run_dynamic
from bigseg.tasks.entry import run_job


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="dynamic")
def main(cfg: DictConfig) -> None:
    run_job(run_dynamic, cfg)


if __name__ == "__main__":
    main()
