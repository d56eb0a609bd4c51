"""`python scale.py +space=mv2_global`: the scaling study's command line.

`main` composes `conf/scale/scale.yaml` with the command line; `run_scale_app` runs the study
and its analysis (`mv2search.scaling.run_scale`) and prints the summary. Also installed as the
`mv2search-scale` command.
"""

from __future__ import annotations

import warnings

import optuna
from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_scale_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.scaling import ExperimentalWarning, run_scale, summary

__all__ = ["APP", "cli", "main", "run_scale_app"]


def run_scale_app(cfg: DictConfig) -> int:
    """Run the scaling study of a composed config and print its summary.

    Args:
        cfg: The composed `scale.yaml` config.

    Returns:
        The exit status: 0 done.

    Raises:
        ValueError: for an input error, naming the field (printed by `mv2search.apps.entry`).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", ExperimentalWarning)  # the command is the experiment
    outcome = run_scale(OmegaConf.to_object(cfg))
    print(summary(outcome))
    return 0


APP = App(
    run=run_scale_app,
    config_module="mv2search.conf.scale",
    config_name="scale",
    register=register_scale_configs,
    missing_hint="set each on the command line",
    interrupted=(
        "the study keeps every finished trial; run the same command again to resume the "
        "study and then the analysis"
    ),
    needs_space=True,
)
main, cli = hydra_entry(APP)
