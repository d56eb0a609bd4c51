"""Test helpers shipped with the package: random valid specs for property tests and benchmarks."""

from __future__ import annotations

import random

from mv2search.arch.spec import ATTN_TYPES, ArchSpec

__all__ = ["random_spec"]


def random_spec(seed: int, *, max_image_size: int = 320, num_classes: int = 10) -> ArchSpec:
    """A random valid spec covering every attention type, both block styles and odd resolutions.

    Args:
        seed: Seed of the generator; the same seed gives the same spec.
        max_image_size: Largest input side drawn (the smallest is 64).
        num_classes: Classes of the head.

    Returns:
        A validated `ArchSpec`.
    """
    rng = random.Random(seed)
    attn_types = tuple(rng.choice(ATTN_TYPES) for _ in range(3))
    attn_blocks = tuple(0 if kind == "none" else rng.randint(1, 3) for kind in attn_types)
    style = rng.choice(("v2", "v2", "v1"))
    return ArchSpec(
        width_multiplier=rng.choice((0.25, 0.375, 0.5, 0.6, 0.75, 0.9, 1.0)),
        image_size=rng.randint(64, max_image_size),
        ir_depths=(rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 2), rng.randint(1, 2), 1),
        attn_blocks=attn_blocks,
        attn_types=attn_types,
        patch_size=rng.choice((1, 2, 2, 3)),
        ffn_multiplier=rng.choice((1.0, 1.5, 2.0, 3.0)),
        expand_ratio=rng.choice((1.0, 2.0, 3.0, 4.0)),
        num_classes=num_classes,
        num_heads=rng.choice((1, 2, 4)),
        block_style=style,
        head_conv_channels=rng.choice((0, 0, 128)) if style == "v2" else 128,
    )
