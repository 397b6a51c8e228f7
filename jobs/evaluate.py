"""Campaign effects per segment: response, lift against control, revenue, ROI.

    python jobs/evaluate.py [overrides]          # segments of the champion version
    python jobs/evaluate.py effects.segments_from=ground_truth   # generated data's truth
    spark-submit --master spark://host:7077 jobs/evaluate.py effects.cost_per_contact=0.4
"""

import hydra
from omegaconf import DictConfig

from bigseg.config import CONFIG_MODULE
from bigseg.tasks.effects import run_effects
from bigseg.tasks.entry import run_job


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_job(run_effects, cfg)


if __name__ == "__main__":
    main()
