"""`python search.py +space=mv2`: the search's command line and what it prints.

`main` composes `conf/search/search.yaml` with the command line; `run_search_app` checks the
space, runs one worker on the study (`mv2search.search.run_search`) and prints the front. Also
installed as the `mv2search-search` command, so it works from any directory after
`pip install`.
"""

from __future__ import annotations

import warnings

import optuna
from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_search_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.search import run_search

__all__ = ["APP", "cli", "main", "run_search_app"]


def run_search_app(cfg: DictConfig) -> int:
    """Run the search of a composed config; print its front and where the outputs are.

    Args:
        cfg: The composed `search.yaml` config.

    Returns:
        The exit status: 0 done.

    Raises:
        ValueError: for an input error, naming the field or file (`mv2search.apps.entry`
            prints it and exits 2).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # gpytorch's interpolation builds a sparse tensor on every GP fit; torch warns about it once
    warnings.filterwarnings("ignore", message="Sparse invariant checks", category=UserWarning)
    outcome = run_search(OmegaConf.to_object(cfg))
    print(outcome.summary)
    who = "this worker" if outcome.workers == 1 else f"{outcome.workers} workers"
    if outcome.rungs:
        steps = "/".join(str(s) for s, _ in outcome.rungs)
        done = "/".join(str(n) for _, n in outcome.rungs)
        print(f"rungs of {steps} steps: {done} trials complete; the front is of the top rung")
    if outcome.latency_check is not None:
        print(f"latency predictor, measured on the front: {outcome.latency_check.summary()}")
    print(
        f"{outcome.n_complete} complete, {outcome.n_failed} failed, {outcome.n_retried} retried "
        f"(worker died); {who} evaluated "
        f"{outcome.evaluated} in {outcome.wall_s:.0f} s. Outputs: {outcome.out_dir}/ "
        "(pareto/*.yaml, pareto.json, trials.csv, hypervolume.json, study store)"
    )
    return 0


APP = App(
    run=run_search_app,
    config_module="mv2search.conf.search",
    config_name="search",
    register=register_search_configs,
    missing_hint="set each on the command line",
    interrupted=(
        "the study keeps every finished trial; the running one is marked 'worker died' and is "
        "evaluated first, from its last checkpoint, when you run the same command again"
    ),
    needs_space=True,
)
main, cli = hydra_entry(APP)
