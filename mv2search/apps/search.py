"""`python search.py +space=mv2`: the search's command line and what it prints.

`main` composes `conf/search/search.yaml` with the command line; `run_search_app` checks the
space, runs one worker on the study (`mv2search.search.run_search`) and prints the front. Also
installed as the `mv2search-search` command, so it works from any directory after
`pip install`.
"""

from __future__ import annotations

import sys
import warnings

import optuna
from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_search_configs
from mv2search.apps.entry import hydra_entry, missing_input
from mv2search.search import run_search

__all__ = ["cli", "main", "run_search_app"]


def run_search_app(cfg: DictConfig) -> int:
    """Run the search of a composed config; print its front and where the outputs are.

    Args:
        cfg: The composed `search.yaml` config.

    Returns:
        The exit status: 0 done, 2 for a config or input error (printed, naming the field).
    """
    if missing_input(cfg, "set each on the command line", space=True):
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # gpytorch's interpolation builds a sparse tensor on every GP fit; torch warns about it once
    warnings.filterwarnings("ignore", message="Sparse invariant checks", category=UserWarning)
    try:
        outcome = run_search(OmegaConf.to_object(cfg))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(outcome.summary)
    if outcome.latency_check is not None:
        print(f"latency predictor, measured on the front: {outcome.latency_check.summary()}")
    print(
        f"{outcome.n_complete} complete, {outcome.n_failed} failed; this worker evaluated "
        f"{outcome.evaluated} in {outcome.wall_s:.0f} s. Outputs: {outcome.out_dir}/ "
        "(pareto/*.yaml, pareto.json, trials.csv, hypervolume.json, study store)"
    )
    return 0


main, cli = hydra_entry(run_search_app, "mv2search.conf.search", "search", register_search_configs)
