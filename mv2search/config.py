"""Hydra schemas: the dataclasses that typed config groups merge into (STYLE.md 6).

Each YAML in `conf/` names its base in its defaults list, so a misspelled key or a wrong type
fails when the config is composed, before any work starts.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from mv2search.train import TrainAppConfig, TrainerConfig

__all__ = ["register_configs"]


def register_configs() -> None:
    """Store the schemas in Hydra's `ConfigStore` (idempotent)."""
    store = ConfigStore.instance()
    store.store(name="base_train", node=TrainAppConfig)
    store.store(group="trainer", name="base_trainer", node=TrainerConfig)
