"""Shared helpers of the search tests: composing `search.py` configs and a tiny, fast search."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_search_configs
from mv2search.search.settings import SearchAppConfig
from tests.hydra_compose import compose_app

# A search small enough for a test: 100 training images at 32-64 px, one epoch, a short latency
# protocol, and a budget that keeps candidates near mobilevitv2_050's size.
TINY = [
    "+space=mv2",
    "workers=1",  # one process: the tests that share a study start their own
    "optimizer.n_trials=4",
    "logger=none",
    "optimizer.n_initial=2",
    "data.options.embedded_train_size=100",
    "data.options.embedded_val_size=50",
    "trainer.epochs=1",
    "trainer.batch_size=50",
    "device.iters=5",
    "device.warmup=2",
    "device.max_warmup_s=0.5",
    "objectives.budgets.gmacs=0.3",
]


def compose_search(overrides: list[str]) -> DictConfig:
    """The `search.py` config composed with `overrides`, as Hydra would build it."""
    return compose_app("search", register_search_configs, overrides)


def search_config(overrides: list[str], runs_dir) -> SearchAppConfig:
    """`compose_search` converted to the typed config, writing under `runs_dir`."""
    cfg = compose_search([*overrides, f"runs_dir={runs_dir}"])
    return OmegaConf.to_object(cfg)
