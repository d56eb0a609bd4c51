"""Composing an app's config in a test as Hydra would build it (STYLE.md 13)."""

from __future__ import annotations

from collections.abc import Callable

from hydra import compose, initialize_config_module
from omegaconf import DictConfig


def compose_app(group: str, register: Callable[[], None], overrides: list[str]) -> DictConfig:
    """`conf/<group>/<group>.yaml` composed with `overrides`, after `register()` stored the
    app's schemas (`search`, `confirm`, `scale`)."""
    register()
    with initialize_config_module(f"mv2search.conf.{group}", version_base="1.3"):
        return compose(group, overrides=overrides)
