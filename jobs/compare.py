"""Runs and segment versions side by side: config differences, metrics, sizes, migrations.

    python jobs/compare.py [key=value ...]    # e.g. "compare.versions=[1,3]"
    spark-submit --master spark://host:7077 jobs/compare.py [key=value ...]
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.compare import run_compare
from bigseg.tasks.entry import run_job


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="compare")
def main(cfg: DictConfig) -> None:
    run_job(run_compare, cfg)


if __name__ == "__main__":
    main()
