"""Train one architecture: python train.py arch=mobilevitv2_050 data=embedded trainer=proxy

Runs under torchrun too: torchrun --nproc_per_node 2 train.py ... (DistributedDataParallel).
"""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from mv2search.config import register_configs
from mv2search.train import run_train

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    # Hydra drops the task's return value: a failed run must exit itself
    if not run_train(OmegaConf.to_object(cfg)).ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
