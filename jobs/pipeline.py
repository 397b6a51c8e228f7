"""The end-to-end pipeline: data -> features -> segments -> profiles -> report -> version.

    python jobs/pipeline.py [key=value ...]
    spark-submit --master spark://host:7077 jobs/pipeline.py [key=value ...]
    python jobs/pipeline.py -m model.k=6,8   # a sweep: one parent MLflow run, a child per job
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.entry import run_job
from bigseg.tasks.pipeline import run_pipeline


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    run_job(run_pipeline, cfg)


if __name__ == "__main__":
    main()
