"""What the Hydra apps (`search.py`, `confirm.py`, `scale.py`) share: the check of a composed
config before it is converted, and the `main`/`cli` pair behind `@hydra.main`.

Each package's `app.py` keeps its `run_*_app(cfg) -> int` (the work and what it prints) and gets
its entry points from `hydra_entry`, so the exit-status handling is written once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from mv2search.search.space import available_spaces

__all__ = ["hydra_entry", "missing_input"]


def missing_input(cfg: DictConfig, hint: str, *, space: bool = False) -> bool:
    """Print the error for a composed config that lacks a value; say whether it did.

    Args:
        cfg: The composed config.
        hint: What to do about a `???` key, after "no value for [keys]; ".
        space: The config needs a search space (`+space=<name>`): its absence is named first,
            with the available spaces.

    Returns:
        True when an error was printed (the app exits with status 2).
    """
    if space and OmegaConf.is_missing(cfg, "space"):
        print(
            f"error: no search space; add +space=<name>, one of {available_spaces()}",
            file=sys.stderr,
        )
        return True
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        print(f"error: no value for {missing}; {hint}", file=sys.stderr)
        return True
    return False


def hydra_entry(
    run_app: Callable[[DictConfig], int], group: str, register: Callable[[], None]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The Hydra entry point of an app and its console command.

    Args:
        run_app: Runs a composed config; returns the exit status (0 done, 2 input error).
        group: The app's folder under `mv2search/conf/` and its primary config's name
            (`search`, `confirm`, `scale`).
        register: Stores the app's schemas in Hydra's `ConfigStore`.

    Returns:
        `(main, cli)`: `main` composes `conf/<group>/<group>.yaml` with the command line and exits
        with `run_app`'s status when it is not 0 (Hydra drops the task's return value); `cli`
        registers the schemas first (the installed `mv2search-<app>` command).
    """

    @hydra.main(version_base="1.3", config_path=f"conf/{group}", config_name=group)
    def main(cfg: DictConfig) -> None:
        status = run_app(cfg)
        if status:
            sys.exit(status)

    def cli() -> None:
        register()
        main()

    main.__doc__ = f"Hydra entry point of `{group}.py`; exits with the app's status."
    cli.__doc__ = f"The `mv2search-{group}` console command."
    return main, cli
