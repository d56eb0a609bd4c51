"""What the Hydra apps (`search.py`, `train.py`, `confirm.py`, `scale.py`, `supernet.py`,
`report.py`) share: the checks of a command line before any work, one error style, and the
`main`/`cli` pair behind `@hydra.main`.

Each app module describes itself as an `App` (its `run(cfg) -> int`, its config, what a missing
value needs, what Ctrl-C leaves) and gets its entry points from `hydra_entry`:

- a command line that does not compose (an unknown key, a wrong type, an unknown group option),
  a key the schema lacks that `+key=value` added (Hydra would pass it and it would be dropped),
  and a missing value (`???`) are refused before Hydra starts, in one line naming the key and
  what is allowed;
- input errors (`ValueError` from the work, which names the field or file) exit 2 with one line
  `error: ...`; `HYDRA_FULL_ERROR=1` shows the traceback instead;
- a run that failed on its own terms (a diverged training) keeps the app's status (1);
- Ctrl-C prints one line (what was recorded, how to resume) and exits 130.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import hydra
from hydra import compose, initialize_config_module
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mv2search.apps.config import space_error, space_hint, use_space_files

__all__ = [
    "App",
    "composition_error",
    "hydra_entry",
    "input_error",
    "run_checked",
    "unknown_keys",
]

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


@dataclass(frozen=True)
class App:
    """One command-line app: what it runs and how its command line is checked."""

    run: Callable[[DictConfig], int]  # the work; returns 0, or 1 for a run that failed itself
    config_module: str  # the package of its primary config (`mv2search.conf.search`)
    config_name: str  # the primary config's name (`search`)
    register: Callable[[], None]  # stores its schemas in Hydra's `ConfigStore`
    missing_hint: str  # what to do about a `???` value, after "no value for [keys]; "
    interrupted: str  # what Ctrl-C leaves and how to resume, after "interrupted: "
    needs_space: bool = False  # `+space=<name or file>` is required


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


def input_error(app: App, cfg: DictConfig) -> str | None:
    """The first problem of a composed config that the work would only meet later, or None:
    an unknown key, no search space, a broken space file, a missing value."""
    unknown = unknown_keys(cfg)
    if unknown:
        return unknown[0]
    if app.needs_space:
        if OmegaConf.is_missing(cfg, "space"):
            return f"no search space; add {space_hint()}"
        broken = space_error(cfg.space)
        if broken:
            return broken
    missing = sorted(k for k in _missing_keys(cfg, "") if not k.startswith("hydra."))
    if missing:
        return f"no value for {missing}; {app.missing_hint}"
    return None


def composition_error(err: BaseException) -> str:
    """One line for an error Hydra raised while composing: the key and what is allowed."""
    if isinstance(err, MissingConfigException) and err.options:
        group, _, option = str(err.missing_cfg_file).rpartition("/")
        allowed = [o for o in err.options if not o.startswith(("schema_", "base_", "_file_"))]
        hint = f" or +{group}=<path to a YAML>" if group == "space" else ""
        return f"{group}={option}: no such option; allowed: {allowed}{hint}"
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


def hydra_entry(app: App) -> tuple[Callable[[], None], Callable[[], None]]:
    """The Hydra entry point of an app and its console command.

    Args:
        app: The app.

    Returns:
        `(main, cli)`: `main` composes `<config_module>/<config_name>.yaml` with the command
        line and runs the app with the error style of the module docstring; `cli` registers
        the schemas, reads `+space=<file>`, and refuses a command line that does not compose or
        lacks a value before Hydra starts (the scripts and the `mv2search-<app>` commands).
    """

    @hydra.main(
        version_base="1.3", config_path=f"pkg://{app.config_module}", config_name=app.config_name
    )
    def main(cfg: DictConfig) -> None:
        status = run_checked(app, cfg)
        if status:
            sys.exit(status)

    def cli() -> None:
        try:
            app.register()
            argv = use_space_files(sys.argv[1:])
            error = _precompose(app, argv)
            if error:
                _exit(f"error: {error}", 2)
            sys.argv[1:] = argv
            main()
        except ValueError as err:  # a broken space file named on the command line
            if _full_error():
                raise
            _exit(f"error: {err}", 2)
        except KeyboardInterrupt:
            _exit(f"\ninterrupted: {app.interrupted}", INTERRUPTED)

    main.__doc__ = f"Hydra entry point of `{app.config_name}.py`; exits with the app's status."
    cli.__doc__ = f"The `{app.config_name}.py` command (`mv2search-{app.config_name}`)."
    return main, cli


def run_checked(app: App, cfg: DictConfig) -> int:
    """Run an app on a composed config with the error style of the module docstring.

    Args:
        app: The app.
        cfg: Its composed config (as Hydra, or a test, built it).

    Returns:
        The exit status: the app's own (0, or 1 for a run that failed), 2 for an input error,
        130 for Ctrl-C; the message is printed on stderr.
    """
    error = input_error(app, cfg)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return app.run(cfg)
    except ValueError as err:
        if _full_error():
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {app.interrupted}", file=sys.stderr)
        return INTERRUPTED


def _precompose(app: App, argv: Sequence[str]) -> str | None:
    """Compose the command line once before Hydra does; the first input error, or None.

    Skipped where Hydra composes differently: help, info, shell completion, multirun sweeps
    (each job's config is still checked by `input_error`).
    """
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(argv))
    if args.help or args.hydra_help or args.info or args.shell_completion or args.multirun:
        return None
    with initialize_config_module(app.config_module, version_base="1.3"):
        try:
            cfg = compose(app.config_name, overrides=list(args.overrides))
        except Exception as err:  # every composition failure is an input error
            return composition_error(err)
    return input_error(app, cfg)


def _missing_keys(node: DictConfig, prefix: str) -> list[str]:
    """Keys whose value is `???`, without resolving interpolations (which may use them)."""
    found = []
    for key in node.keys():
        child = node._get_node(key)
        if child._is_missing():
            found.append(f"{prefix}{key}")
        elif isinstance(child, DictConfig) and not child._is_none():
            found += _missing_keys(child, f"{prefix}{key}.")
    return found


def _full_error() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _exit(message: str, status: int) -> None:
    print(message, file=sys.stderr)
    sys.exit(status)


def _is_schema(schema: object) -> bool:
    return isinstance(schema, type) and dataclasses.is_dataclass(schema)
