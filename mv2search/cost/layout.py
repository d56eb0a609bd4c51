"""The block-by-block layout of a spec with spatial sizes: what `count_params`/`count_macs` walk.

It mirrors `mv2search.arch.model.MobileViTv2.__init__` without building anything.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from mv2search.arch.spec import STAGE_STRIDES, ArchSpec, ffn_hidden, ir_hidden, resolve_widths

__all__ = ["Block", "layout"]


class Block(NamedTuple):
    """One unit of the network with the shapes its cost depends on."""

    kind: str  # "stem" | "mv2" | "mvit" | "final_conv" | "head"
    in_channels: int
    out_channels: int
    side: int  # input side in pixels (square)
    stride: int = 1
    hidden: int = 0  # MV2 hidden width, or FFN hidden width of an attention layer
    attn_dim: int = 0
    depth: int = 0  # attention layers
    attn_type: str = ""


def conv_side(side: int, stride: int) -> int:
    """Output side of a 3x3 conv with padding 1: ceil(side / stride)."""
    return (side - 1) // stride + 1


def layout(spec: ArchSpec) -> list[Block]:
    """List the blocks of `spec` in forward order with their input sides.

    Args:
        spec: The architecture.

    Returns:
        Stem, MV2 and MobileViT blocks, the optional expansion conv, and the head.
    """
    widths = resolve_widths(spec)
    side = spec.image_size
    blocks = [Block("stem", 3, widths.stem, side, stride=2)]
    side, channels = conv_side(side, 2), widths.stem
    for index, (depth, out_channels) in enumerate(zip(spec.ir_depths, widths.stages, strict=True)):
        for j in range(depth):
            stride = STAGE_STRIDES[index] if j == 0 else 1
            hidden = ir_hidden(channels, spec.expand_ratio)
            blocks.append(Block("mv2", channels, out_channels, side, stride, hidden))
            side, channels = conv_side(side, stride), out_channels
        attn_stage = index - 2
        if attn_stage >= 0 and spec.attn_types[attn_stage] != "none":
            dim = widths.attn_dims[attn_stage]
            hidden = ffn_hidden(dim, spec.ffn_multiplier)
            kind = spec.attn_types[attn_stage]
            depth = spec.attn_blocks[attn_stage]
            blocks.append(Block("mvit", channels, channels, side, 1, hidden, dim, depth, kind))
            if spec.block_style == "v2":  # the v2 block keeps the size it resized to
                side = math.ceil(side / spec.patch_size) * spec.patch_size
    if spec.head_conv_channels:
        blocks.append(Block("final_conv", channels, spec.head_conv_channels, side))
        channels = spec.head_conv_channels
    blocks.append(Block("head", channels, spec.num_classes, side))
    return blocks
