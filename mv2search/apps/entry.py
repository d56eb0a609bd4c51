"""What the Hydra apps (`search.py`, `train.py`, `confirm.py`, `scale.py`, `report.py`) share: the
checks of a composed config before it is converted, and the `main`/`cli` pair behind
`@hydra.main`.

Each app module keeps its `run_*_app(cfg) -> int` (the work and what it prints) and gets its
entry points from `hydra_entry`, so the checks and the exit-status handling are written once:

- a command line that does not compose (an unknown key, a wrong type, an unknown group option)
  is refused before Hydra starts, naming the key and what is allowed; so is a key the schema
  lacks that `+key=value` added (Hydra would pass it, and it would be dropped);
- a missing value (`???`) is named with a hint;
- the app's status is the process's (Hydra drops a task's return value).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence

import hydra
from hydra import compose, initialize_config_module
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mv2search.search.space import available_spaces

__all__ = ["composition_error", "hydra_entry", "missing_input", "unknown_keys"]


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


def unknown_keys(cfg: DictConfig) -> list[str]:
    """One message per key of a typed node that its schema does not have.

    `+key=value` adds a key to a structured config without complaint, and converting the
    config drops it; this finds such keys.

    Args:
        cfg: The composed config.

    Returns:
        `"<full key>: unknown key; allowed: [...]"` per unknown key, in config order.
    """
    found: list[str] = []

    def walk(node: DictConfig, prefix: str) -> None:
        if node._is_none() or node._is_missing():
            return
        schema = OmegaConf.get_type(node)
        allowed = [f.name for f in dataclasses.fields(schema)] if _is_schema(schema) else None
        for key, value in node.items_ex(resolve=False):
            if allowed is not None and key not in allowed:
                found.append(f"{prefix}{key}: unknown key; allowed: {allowed}")
            elif isinstance(value, DictConfig):
                walk(value, f"{prefix}{key}.")

    walk(cfg, "")
    return found


def composition_error(err: BaseException) -> str:
    """One line for an error Hydra raised while composing: the key and what is allowed."""
    if isinstance(err, MissingConfigException) and err.options:
        group, _, option = str(err.missing_cfg_file).rpartition("/")
        allowed = [o for o in err.options if not o.startswith(("schema_", "base_"))]
        return f"{group}={option}: no such option; allowed: {allowed}"
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__
    if cause is None:  # a malformed override and the like: Hydra's words
        return " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    key = getattr(cause, "full_key", None) or "config"
    schema = getattr(cause, "object_type", None)
    message = str(cause).splitlines()[0]
    if "not in" in message and _is_schema(schema):
        allowed = [f.name for f in dataclasses.fields(schema)]
        return f"{key}: unknown key; allowed: {allowed}"
    return f"{key}: {message}"


def hydra_entry(
    run_app: Callable[[DictConfig], int],
    config_module: str,
    config_name: str,
    register: Callable[[], None],
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The Hydra entry point of an app and its console command.

    Args:
        run_app: Runs a composed config; returns the exit status (0 done, 2 input error).
        config_module: The package of its primary config (`mv2search.conf.search`).
        config_name: The primary config's name (`search`).
        register: Stores the app's schemas in Hydra's `ConfigStore`.

    Returns:
        `(main, cli)`: `main` composes `<config_module>/<config_name>.yaml` with the command
        line, refuses unknown keys and exits with `run_app`'s status when it is not 0; `cli`
        registers the schemas and checks that the command line composes first (the scripts and
        the installed `mv2search-<app>` commands).
    """

    @hydra.main(version_base="1.3", config_path=f"pkg://{config_module}", config_name=config_name)
    def main(cfg: DictConfig) -> None:
        unknown = unknown_keys(cfg)
        if unknown:
            print(f"error: {unknown[0]}", file=sys.stderr)
            sys.exit(2)
        status = run_app(cfg)
        if status:
            sys.exit(status)

    def cli() -> None:
        register()
        error = _precompose(config_module, config_name, sys.argv[1:])
        if error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        main()

    main.__doc__ = f"Hydra entry point of `{config_name}.py`; exits with the app's status."
    cli.__doc__ = f"The `{config_name}.py` command (`mv2search-{config_name}`)."
    return main, cli


def _precompose(config_module: str, config_name: str, argv: Sequence[str]) -> str | None:
    """Compose the command line's overrides once before Hydra does; the error, or None.

    Skipped where Hydra composes differently: help, info, shell completion, multirun sweeps
    (each job's config is still checked by `unknown_keys`).
    """
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(argv))
    if args.help or args.hydra_help or args.info or args.shell_completion or args.multirun:
        return None
    with initialize_config_module(config_module, version_base="1.3"):
        try:
            compose(config_name, overrides=list(args.overrides), return_hydra_config=True)
        except Exception as err:  # every composition failure is an input error
            return composition_error(err)
    return None


def _is_schema(schema: object) -> bool:
    return isinstance(schema, type) and dataclasses.is_dataclass(schema)
