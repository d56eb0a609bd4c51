"""Exact parameter counts from the spec, without building the model.

Per block (C channels, d attention dim, h FFN hidden width, e MV2 hidden width, K classes):
- stem: 27 C0 + 2 C0 (3x3 conv, BN)
- MV2(in -> out): in e + 2e + 9e + 2e + e out + 2 out
- MobileViT block: local 3x3 (9C depthwise or 9C^2 full) + 2C, 1x1 C d, L layers, final norm 2d,
  projection d C + 2C, v1 fusion 18 C^2 + 2C
- attention layer: separable 7d^2+11d+1 at h = 2d (architecture.md 6.1); in general
  separable 3d^2 + 4d + 1 + 4d + 2dh + h + d; mha 4d^2 + 4d + 4d + 2dh + h + d;
  additive 4d^2 + 5d + 4d + 2dh + h + d
- head: C K + K
"""

from __future__ import annotations

from mv2search.arch.spec import ArchSpec
from mv2search.cost.layout import Block, layout

__all__ = ["count_params", "block_params", "attention_layer_params"]


def attention_layer_params(attn_type: str, dim: int, hidden: int) -> int:
    """Parameters of one attention layer (attention + FFN + two norms) of width `dim`, FFN
    `hidden`."""
    norms_and_ffn = 4 * dim + 2 * dim * hidden + hidden + dim
    attention = {
        "separable": 3 * dim * dim + 4 * dim + 1,
        "mha": 4 * dim * dim + 4 * dim,
        "additive": 4 * dim * dim + 5 * dim,
    }[attn_type]
    return attention + norms_and_ffn


def block_params(block: Block, style: str) -> int:
    """Parameters of one block of `layout(spec)`; `style` is the spec's `block_style`."""
    c, d = block.in_channels, block.attn_dim
    if block.kind == "stem":
        return 27 * block.out_channels + 2 * block.out_channels
    if block.kind == "mv2":
        e = block.hidden
        return c * e + 2 * e + 9 * e + 2 * e + e * block.out_channels + 2 * block.out_channels
    if block.kind == "mvit":
        local = (9 * c if style == "v2" else 9 * c * c) + 2 * c
        layers = block.depth * attention_layer_params(block.attn_type, d, block.hidden)
        fusion = 18 * c * c + 2 * c if style == "v1" else 0
        return local + c * d + layers + 2 * d + d * c + 2 * c + fusion
    if block.kind == "final_conv":
        return c * block.out_channels + 2 * block.out_channels
    return c * block.out_channels + block.out_channels  # head


def count_params(spec: ArchSpec) -> int:
    """Exact number of trainable parameters of `build_model(spec)` (BN running stats excluded).

    Args:
        spec: The architecture.

    Returns:
        The parameter count; equals `sum(p.numel() for p in build_model(spec).parameters())`.
    """
    return sum(block_params(block, spec.block_style) for block in layout(spec))
