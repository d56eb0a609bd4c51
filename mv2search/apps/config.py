"""Hydra schemas in the `ConfigStore`: the dataclasses that typed config groups merge into
(STYLE.md 6).

Each YAML in `conf/` names its base in its defaults list (`base_<app>`, `schema_<name>` of the
`optimizer` and `logger` groups), or merges into a typed field of its app's schema, so a wrong
type fails when the config is composed and a misspelled key is refused before any work starts
(`mv2search.apps.entry`).

Search spaces live in `search_spaces/*.yaml` (outside `conf/`, they are data the search code also
reads); `register_search_configs` serves them as the Hydra group `space`. A group Hydra cannot
find would make `+space=mv2` silently set the string "mv2"; registered, an unknown name fails
with the list of available spaces. A space file of the user's own, `+space=<path to a YAML>`, is
registered the same way under a name of its own (`use_space_files`). A file that is not valid
YAML breaks only itself: it is registered as an error that choosing it reports
(`space_error`).

The resolver `${parent:<path>}` (the folder of a path) lets `confirm.py` and `report.py` keep
Hydra's files under the study's runs folder by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from mv2search.confirm.settings import ConfirmAppConfig
from mv2search.report.settings import ReportAppConfig
from mv2search.scaling.settings import ScaleAppConfig
from mv2search.search.loggers import LOGGERS
from mv2search.search.optimizers import OPTIMIZERS
from mv2search.search.settings import SearchAppConfig, SupernetAppConfig
from mv2search.search.space import available_spaces, spaces_dir
from mv2search.train import TrainAppConfig, TrainerConfig

__all__ = [
    "register_confirm_configs",
    "register_report_configs",
    "register_scale_configs",
    "register_search_configs",
    "register_supernet_configs",
    "register_train_configs",
    "space_error",
    "space_hint",
    "use_space_files",
]

_BROKEN = "_broken"  # the key of a space node that stands for a file that could not be read
_SPACE_PREFIXES = ("+space=", "space=", "++space=")

if not OmegaConf.has_resolver("parent"):
    OmegaConf.register_new_resolver("parent", lambda path: str(Path(str(path)).parent))


def register_train_configs() -> None:
    """Store the `train.py` schemas in Hydra's `ConfigStore` (idempotent)."""
    store = ConfigStore.instance()
    store.store(name="base_train", node=TrainAppConfig)
    store.store(group="trainer", name="base_trainer", node=TrainerConfig)


def register_search_configs() -> None:
    """Store the `search.py` schemas, one per optimizer and logger, and every search space as
    group `space` (idempotent).

    Raises:
        ValueError: naming a space file that is not a YAML mapping.
    """
    register_train_configs()
    store = ConfigStore.instance()
    store.store(name="base_search", node=SearchAppConfig)
    for name, optimizer in OPTIMIZERS.items():
        store.store(group="optimizer", name=f"schema_{name}", node=optimizer.Config)
    for name, logger in LOGGERS.items():
        store.store(group="logger", name=f"schema_{name}", node=logger.Config)
    for path in sorted(spaces_dir().glob("*.yaml")):
        store.store(group="space", name=path.stem, node=_space_node(path))


def _space_node(path: Path) -> dict[str, Any]:
    """The `space` node of a YAML file: its mapping named after the file (unless it names
    itself), or a `_broken` node carrying the error when the file cannot be read."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        message = " ".join(str(err).split())
        return {"name": path.stem, _BROKEN: f"{path}: not a readable YAML file: {message}"}
    if not isinstance(data, dict):
        return {
            "name": path.stem,
            _BROKEN: f"{path}: expected a mapping (name, base, fixed, parameters)",
        }
    return {"name": path.stem, **data}


def space_error(space: Any) -> str | None:
    """The error of a chosen space that stands for a broken file, or None."""
    if isinstance(space, dict) or hasattr(space, "get"):
        return space.get(_BROKEN)
    return None


def space_hint() -> str:
    """How to choose a space, for a message: the built-in names or a file."""
    return f"+space=<name>, one of {available_spaces()}, or +space=<path to a YAML>"


def use_space_files(argv: Sequence[str]) -> list[str]:
    """Register the space files a command line names (`+space=my/space.yaml`) and point it at
    them; every other argument is kept as it is.

    Args:
        argv: The command line's arguments.

    Returns:
        The arguments, `+space=<path>` replaced by `+space=<the registered name>`.

    Raises:
        ValueError: naming a `.yaml`/`.yml` path that does not exist.
    """
    out = []
    for arg in argv:
        prefix = next((p for p in _SPACE_PREFIXES if arg.startswith(p)), None)
        value = arg[len(prefix) :] if prefix else ""
        if prefix is None or not value.endswith((".yaml", ".yml")):
            out.append(arg)
            continue
        path = Path(value).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"space: {value}: no such file; {space_hint()}")
        name = f"_file_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        ConfigStore.instance().store(group="space", name=name, node=_space_node(path))
        out.append(f"{prefix}{name}")
    return out


def register_confirm_configs() -> None:
    """Store the `confirm.py` schema (and the shared `trainer` schema) (idempotent)."""
    register_train_configs()
    ConfigStore.instance().store(name="base_confirm", node=ConfirmAppConfig)


def register_scale_configs() -> None:
    """Store the `scale.py` schema (`base_scale`) and everything `register_search_configs` does.

    Raises:
        ValueError: naming a space file that is not a YAML mapping.
    """
    register_search_configs()
    ConfigStore.instance().store(name="base_scale", node=ScaleAppConfig)


def register_report_configs() -> None:
    """Store the `report.py` schema (idempotent)."""
    ConfigStore.instance().store(name="base_report", node=ReportAppConfig)


def register_supernet_configs() -> None:
    """Store the `supernet.py` schema (`base_supernet`) and everything `register_search_configs`
    does (the spaces; the groups it uses are the search's).

    Raises:
        ValueError: naming a space file that is not a YAML mapping.
    """
    register_search_configs()
    ConfigStore.instance().store(name="base_supernet", node=SupernetAppConfig)
