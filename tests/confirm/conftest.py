"""Shared helpers of the confirmation tests: composing `confirm.py` configs, a tiny budget."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from mv2search.config import register_confirm_configs

# A "full" budget small enough for a test: one epoch of the tiny study's 100 images at the
# proxy's own resolution, and a short latency protocol for the presets.
CONFIRM_TINY = [
    "top_k=2",
    "trainer.epochs=1",
    "trainer.batch_size=50",
    "trainer.eval_batch_size=50",
    "resolution_scale=0.25",
    "device=cpu_eager_1t",
    "device.iters=5",
    "device.warmup=2",
    "device.max_warmup_s=0.5",
]


def compose_confirm(overrides: list[str]) -> DictConfig:
    """The `confirm.py` config composed with `overrides`, as Hydra would build it."""
    register_confirm_configs()
    with initialize_config_module("mv2search.conf.confirm", version_base="1.3"):
        return compose("confirm", overrides=overrides)
