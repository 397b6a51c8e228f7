"""Profiles, actions, audiences and the report of a segment version.

(Named `profiles.py`, not `profile.py`: a job file's folder comes first on sys.path,
and `profile` would shadow the standard library module of that name.)

    python jobs/profiles.py [key=value ...]
    spark-submit --master spark://host:7077 jobs/profiles.py [key=value ...]
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.entry import run_job
from bigseg.tasks.profile import run_profile


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="profiles")
def main(cfg: DictConfig) -> None:
    run_job(run_profile, cfg)


if __name__ == "__main__":
    main()
