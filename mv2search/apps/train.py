"""`python train.py arch=... data=... trainer=...`: training one architecture from the command
line (also under `torchrun`, and installed as `mv2search-train`).

`main` composes `conf/train.yaml` with the command line; `run_train_app` trains
(`mv2search.train.run_train`) and exits 1 when the run did not finish ok (diverged, out of
memory, undecodable data), 2 for an input error.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_train_configs
from mv2search.apps.entry import hydra_entry, missing_input
from mv2search.train import run_train

__all__ = ["cli", "main", "run_train_app"]


def run_train_app(cfg: DictConfig) -> int:
    """Train the architecture of a composed config.

    Args:
        cfg: The composed `train.yaml` config.

    Returns:
        The exit status: 0 a finished run, 1 a failed one, 2 for a config or input error.
    """
    if missing_input(cfg, "set each on the command line"):
        return 2
    try:
        result = run_train(OmegaConf.to_object(cfg))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if result.ok else 1


main, cli = hydra_entry(run_train_app, "mv2search.conf", "train", register_train_configs)
