"""`python train.py arch=... data=... trainer=...`: training one architecture from the command
line (also under `torchrun`, and installed as `mv2search-train`).

`main` composes `conf/train.yaml` with the command line; `run_train_app` trains
(`mv2search.train.run_train`) and exits 1 when the run did not finish ok (diverged, out of
memory, undecodable data), 2 for an input error.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_train_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.train import run_train

__all__ = ["APP", "cli", "main", "run_train_app"]


def run_train_app(cfg: DictConfig) -> int:
    """Train the architecture of a composed config.

    Args:
        cfg: The composed `train.yaml` config.

    Returns:
        The exit status: 0 a finished run, 1 a failed one (diverged, out of memory).

    Raises:
        ValueError: for an input error (an unknown preset, a malformed spec file, a missing data
            folder, a bad trainer setting), naming it (printed by `mv2search.apps.entry`).
    """
    result = run_train(OmegaConf.to_object(cfg))
    return 0 if result.ok else 1


APP = App(
    run=run_train_app,
    config_module="mv2search.conf",
    config_name="train",
    register=register_train_configs,
    missing_hint="set each on the command line",
    interrupted="the run keeps its last checkpoint; run the same command again to resume it",
)
main, cli = hydra_entry(APP)
