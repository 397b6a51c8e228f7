"""Score customers with the champion (or inputs.version=N) -> a new segment version.

    python jobs/assign.py [key=value ...]
    spark-submit --master spark://host:7077 jobs/assign.py [key=value ...]
    python jobs/assign.py inputs.version=3 features.as_of=2026-03-01
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.assign import run_assign
from bigseg.tasks.entry import run_job


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="assign")
def main(cfg: DictConfig) -> None:
    run_job(run_assign, cfg)


if __name__ == "__main__":
    main()
