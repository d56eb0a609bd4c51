"""Analytic multiply-accumulate counts (MACs) from the spec, in fvcore's convention.

Convention: we count MACs, not FLOPs (FLOPs = 2 x MACs; the MobileViT papers' "FLOPs" are MACs). A
count is what fvcore reports for the built model in eval mode with batch 1, plus the attention
matmuls of `mha`:
- conv: C_out (C_in / groups) k^2 per output pixel; linear and matmul: one MAC per multiply; no
  bias terms;
- BatchNorm (eval): 2 per element; GroupNorm and LayerNorm: 5 per element; global average
  pooling: 1 per input element; bilinear upsampling: 4 per output element (fvcore's estimates);
- multi-head attention (`F.scaled_dot_product_attention`, which fvcore skips; `FVCORE_HANDLES`
  adds it): Q K^T plus A V = 2 P N^2 d per layer;
- element-wise ops (activations, softmax, the products and sums of separable/additive attention, L2
  normalisation) are not counted. They are bounded: a separable layer does about 5 d P N of them
  against (7 d^2 + d) P N MACs, under 1.2 % of the layer at d >= 64.

At 256 x 256 this reproduces the fvcore totals of timm's MobileViTv2 models (architecture.md 2.1)
and timm's published GMACs of MobileViTv1 (2.4), which include the attention matmuls.

Per block (H input side, H' output side, C channels, d attention dim, h FFN hidden,
T = P N tokens):
- stem: H'^2 (27 C0 + 2 C0)
- MV2 (in -> e -> out, stride s): H^2 (in e + 2e) + H'^2 (9e + 2e + e out + 2 out)
- MobileViTv2 block: H^2 (9C + 2C + C d) + L layers + 5 d T + T (d C + 2C)
- separable layer: T (10 d + d (2d + 1) + d^2 + 2 d h)
"""

from __future__ import annotations

import math
from typing import Any

from mv2search.arch.spec import ArchSpec
from mv2search.cost.layout import Block, conv_side, layout

__all__ = ["count_macs", "block_macs", "attention_layer_macs", "FVCORE_HANDLES"]


def attention_layer_macs(attn_type: str, dim: int, hidden: int, tokens: int, patches: int) -> int:
    """MACs of one attention layer over `tokens` = P x N tokens, `patches` = N of them per sequence.

    Args:
        attn_type: "separable", "mha" or "additive".
        dim: Attention dim d.
        hidden: FFN hidden width h.
        tokens: P x N, the number of tokens of one image.
        patches: N, the sequence length each token attends over.

    Returns:
        MACs per image.
    """
    norms_and_ffn = tokens * (10 * dim + 2 * dim * hidden)
    if attn_type == "separable":
        attention = tokens * (dim * (2 * dim + 1) + dim * dim)
    elif attn_type == "mha":
        attention = tokens * 4 * dim * dim + 2 * tokens * patches * dim
    elif attn_type == "additive":
        attention = tokens * (
            4 * dim * dim + 2 * dim
        )  # q, k, proj, final + the two pooling matmuls
    else:
        raise ValueError(f"attn_type: {attn_type!r}; allowed: 'separable', 'mha', 'additive'")
    return attention + norms_and_ffn


def _mvit_macs(block: Block, patch_size: int, style: str) -> int:
    c, d, side = block.in_channels, block.attn_dim, block.side
    padded = math.ceil(side / patch_size) * patch_size
    resize = padded != side
    tokens, patches = padded * padded, padded * padded // (patch_size * patch_size)
    macs = 0
    if style == "v2":
        macs += 4 * c * tokens if resize else 0  # bilinear resize of the input
        macs += tokens * (9 * c + 2 * c + c * d)  # depthwise 3x3 + BN, 1x1
        out_pixels = tokens
    else:
        macs += side * side * (9 * c * c + 2 * c + c * d)  # full 3x3 + BN, 1x1
        macs += 4 * d * (tokens + side * side) if resize else 0  # resize to tokens and back
        out_pixels = side * side
    macs += block.depth * attention_layer_macs(block.attn_type, d, block.hidden, tokens, patches)
    macs += 5 * d * tokens  # final norm
    macs += out_pixels * (d * c + 2 * c)  # 1x1 projection + BN
    if style == "v1":
        macs += out_pixels * (18 * c * c + 2 * c)  # concat fusion 3x3 + BN
    return macs


def block_macs(block: Block, spec: ArchSpec) -> int:
    """MACs of one block of `layout(spec)` (convention in the module docstring)."""
    side, c_in, c_out = block.side, block.in_channels, block.out_channels
    if block.kind == "stem":
        return conv_side(side, 2) ** 2 * (27 * c_out + 2 * c_out)
    if block.kind == "mv2":
        e, out_side = block.hidden, conv_side(side, block.stride)
        return side * side * (c_in * e + 2 * e) + out_side**2 * (
            9 * e + 2 * e + e * c_out + 2 * c_out
        )
    if block.kind == "mvit":
        return _mvit_macs(block, spec.patch_size, spec.block_style)
    if block.kind == "final_conv":
        return side * side * (c_in * c_out + 2 * c_out)
    return side * side * c_in + c_in * c_out  # head: global pool + linear


def count_macs(spec: ArchSpec) -> int:
    """MACs of one forward pass of one `spec.image_size` image (convention in the module docstring).

    Args:
        spec: The architecture.

    Returns:
        MACs per image; agrees with fvcore (with `FVCORE_HANDLES`) on the built model within 0.5 %.
    """
    return sum(block_macs(block, spec) for block in layout(spec))


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    # aten::scaled_dot_product_attention(query B x h x N x e, key B x h x S x e, value B x h x S x
    # f): Q K^T is B h N S e MACs, A V is B h N S f.
    from fvcore.nn.jit_handles import get_shape

    *batch, n, e = get_shape(inputs[0])
    s, f = get_shape(inputs[2])[-2:]
    return math.prod(batch) * n * s * (e + f)


# Handles for ops fvcore skips but that are real MACs in this family (use with FlopCountAnalysis).
FVCORE_HANDLES = {"aten::scaled_dot_product_attention": _sdpa_macs}
