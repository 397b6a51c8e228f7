"""Check a Spark cluster for bigseg: `spark-submit --master spark://... jobs/doctor.py`.

Also `python jobs/doctor.py [overrides]` (local[*]) and the `bigseg doctor` console script.
"""

import sys

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE, to_typed
from bigseg.doctor import run_doctor


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="doctor")
def main(cfg: DictConfig) -> None:
    sys.exit(run_doctor(to_typed(cfg)))


if __name__ == "__main__":
    main()
