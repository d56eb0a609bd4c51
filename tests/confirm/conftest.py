"""Shared helpers of the confirmation tests: configs, a tiny budget, an easy image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from mv2search.apps.config import register_confirm_configs
from tests.hydra_compose import compose_app

# The reference recipe cut down for a test: 40 steps (4 epochs of the tiny folder) at the proxy's
# resolution, and a short latency protocol for the presets.
CONFIRM_TINY = [
    "top_k=3",
    "trainer.schedule_steps=40",
    "trainer.batch_size=16",
    "trainer.eval_batch_size=40",
    "resolution_scale=0.25",
    "device=cpu_eager_1t",
    "device.iters=5",
    "device.warmup=2",
    "device.max_warmup_s=0.5",
]


def compose_confirm(overrides: list[str]) -> DictConfig:
    """The `confirm.py` config composed with `overrides`, as Hydra would build it."""
    return compose_app("confirm", register_confirm_configs, overrides)


def colour_folder(root: Path, n_train: int = 40, n_val: int = 20, size: int = 32) -> Path:
    """An image folder (`root/{train,val}/<class>/*.png`) of 4 classes told apart by a faint
    colour cast under strong noise: a network learns it partly in a few dozen steps, so
    accuracies differ between networks (the embedded set needs minutes to leave chance).

    Args:
        root: Where to write it.
        n_train: Training images per class.
        n_val: Validation images per class.
        size: Side in pixels.

    Returns:
        `root`.
    """
    rng = np.random.default_rng(0)
    casts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=float) - 0.5
    for split, count in (("train", n_train), ("val", n_val)):
        for label, cast in enumerate(casts):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = 0.5 + 0.1 * cast + rng.normal(0.0, 0.3, (size, size, 3))
                image = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
    return root
