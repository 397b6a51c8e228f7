"""The end-to-end pipeline: data -> features -> segments -> tracked assignments.

    python jobs/pipeline.py [overrides]                 # local[*], generated data
    spark-submit --master spark://host:7077 jobs/pipeline.py source.synthetic.n_customers=1000000
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE, to_typed
from bigseg.tasks.pipeline import run_pipeline


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    run_pipeline(to_typed(cfg))


if __name__ == "__main__":
    main()
