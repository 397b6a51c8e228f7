"""Input tables -> one feature row per customer (Parquet + the fitted transform).

    python jobs/build_features.py [key=value ...]
    spark-submit --master spark://host:7077 jobs/build_features.py [key=value ...]
    python jobs/build_features.py -m features.as_of=2025-06-30,2025-12-31   # one run per date
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.entry import run_job
from bigseg.tasks.features import run_build_features


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="build_features")
def main(cfg: DictConfig) -> None:
    run_job(run_build_features, cfg)


if __name__ == "__main__":
    main()
