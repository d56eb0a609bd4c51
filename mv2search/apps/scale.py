"""`python scale.py +space=mv2_global`: the scaling study's command line.

`main` composes `conf/scale/scale.yaml` with the command line; `run_scale_app` runs the study
and its analysis (`mv2search.scaling.run_scale`) and prints the summary. Also installed as the
`mv2search-scale` command.
"""

from __future__ import annotations

import sys
import warnings

import optuna
from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_scale_configs
from mv2search.apps.entry import hydra_entry, missing_input
from mv2search.scaling import ExperimentalWarning, run_scale, summary

__all__ = ["cli", "main", "run_scale_app"]


def run_scale_app(cfg: DictConfig) -> int:
    """Run the scaling study of a composed config and print its summary.

    Args:
        cfg: The composed `scale.yaml` config.

    Returns:
        The exit status: 0 done, 2 for a config or input error (printed, naming the field).
    """
    if missing_input(cfg, "set each on the command line", space=True):
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", ExperimentalWarning)  # the command is the experiment
    try:
        outcome = run_scale(OmegaConf.to_object(cfg))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(outcome))
    return 0


main, cli = hydra_entry(run_scale_app, "mv2search.conf.scale", "scale", register_scale_configs)
