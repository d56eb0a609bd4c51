"""`python supernet.py +space=mv2`: train the supernet of `evaluator.accuracy=supernet` ahead of
a search.

`main` composes `conf/supernet/supernet.yaml` (the search's `objectives` and `data` groups, its
`evaluator`, `seed` and `runs_dir` keys) with the command line; `run_supernet_app` trains, resumes
or reads back the supernet (`mv2search.search.supernet_score.train_study_supernet`, the task and
cache key of the search's `SupernetScorer`) and prints one summary line. Also installed as the
`mv2search-supernet` command.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_supernet_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.arch import ArchSpec
from mv2search.cost import count_macs
from mv2search.search.supernet_score import train_study_supernet
from mv2search.supernet_train import SupernetResult, SupernetTrainConfig

__all__ = ["APP", "cli", "main", "run_supernet_app", "summary"]


def run_supernet_app(cfg: DictConfig) -> int:
    """Train (or read back) the supernet of a composed config and print its summary line.

    Args:
        cfg: The composed `supernet.yaml` config.

    Returns:
        The exit status: 0 done.

    Raises:
        ValueError: for an input error, naming the field (`mv2search.apps.entry` prints it and
            exits 2).
    """
    result = train_study_supernet(OmegaConf.to_object(cfg))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line for the job
        print(summary(result))
    return 0


def summary(result: SupernetResult) -> str:
    """One line: the run folder, what this call did, the largest and smallest subnets."""
    if result.cached:
        done = f"read back from the cache ({result.step} steps)"
    else:
        done = f"trained {result.trained_steps} steps (now {result.step})"
    return (
        f"supernet {result.run_dir}/: {done}; largest: {_spec(result.largest)}; "
        f"smallest: {_spec(result.smallest)}"
    )


def _spec(spec: ArchSpec) -> str:
    depths = "/".join(map(str, spec.ir_depths))
    blocks = "/".join(map(str, spec.attn_blocks))
    return (
        f"width {spec.width_multiplier:g}, {spec.image_size} px, ir_depths {depths}, "
        f"attn_blocks {blocks}, {'/'.join(spec.attn_types)}, ffn {spec.ffn_multiplier:g}, "
        f"{count_macs(spec) / 1e9:.3g} GMACs"
    )


APP = App(
    run=run_supernet_app,
    config_module="mv2search.conf.supernet",
    config_name="supernet",
    register=register_supernet_configs,
    missing_hint="set each on the command line",
    interrupted=(
        "the supernet run keeps its last checkpoint (written every "
        f"{SupernetTrainConfig.checkpoint_every_steps} steps); run the same command, or the "
        "search, again to resume from it"
    ),
    needs_space=True,
)
main, cli = hydra_entry(APP)
