"""A features table -> a published, profiled segment version (promoted when its gates pass).

    python jobs/train.py [key=value ...]
    spark-submit --master spark://host:7077 jobs/train.py [key=value ...]
    python jobs/train.py -m model.k=6,8   # a sweep: one parent MLflow run, a child per job
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.entry import run_job
from bigseg.tasks.train import run_train


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def main(cfg: DictConfig) -> None:
    run_job(run_train, cfg)


if __name__ == "__main__":
    main()
