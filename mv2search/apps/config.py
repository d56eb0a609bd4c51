"""Hydra schemas in the `ConfigStore`: the dataclasses that typed config groups merge into
(STYLE.md 6).

Each YAML in `conf/` names its base in its defaults list (`base_<app>`, `schema_<name>` of the
`optimizer` and `logger` groups), or merges into a typed field of its app's schema, so a wrong
type fails when the config is composed and a misspelled key is refused before any work starts
(`mv2search.apps.entry`).

Search spaces live in `search_spaces/*.yaml` (outside `conf/`, they are data the search code also
reads); `register_search_configs` serves them as the Hydra group `space`. A group Hydra cannot
find would make `+space=mv2` silently set the string "mv2"; registered, an unknown name fails
with the list of available spaces.
"""

from __future__ import annotations

import yaml
from hydra.core.config_store import ConfigStore

from mv2search.confirm.settings import ConfirmAppConfig
from mv2search.report.settings import ReportAppConfig
from mv2search.scaling.settings import ScaleAppConfig
from mv2search.search.loggers import LOGGERS
from mv2search.search.optimizers import OPTIMIZERS
from mv2search.search.settings import SearchAppConfig
from mv2search.search.space import spaces_dir
from mv2search.train import TrainAppConfig, TrainerConfig

__all__ = [
    "register_confirm_configs",
    "register_report_configs",
    "register_scale_configs",
    "register_search_configs",
    "register_train_configs",
]


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
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: malformed YAML: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping (name, base, fixed, parameters)")
        store.store(group="space", name=path.stem, node={"name": path.stem, **data})


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
