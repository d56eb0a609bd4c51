"""Elastic blocks: inverted residual, MobileViT block and a stage, each run for a `StagePlan`.

Elastic depth takes the first `depth` blocks of a stage (and the first `depth` attention layers of
its MobileViT block); elastic width slices every layer (see `mv2search.supernet.elastic`). The
local convs, the 1x1 projections and the v1 fusion conv of a MobileViT block are shared by all
attention types; its final norm exists once per norm kind (GroupNorm(1) for separable, LayerNorm
for mha and additive). Token folding copies `mv2search.arch.blocks.MobileViTBlock`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mv2search.arch.blocks import fold_patches, unfold_patches
from mv2search.supernet.attention import NORM_KIND, ElasticAttentionLayer, elastic_norms
from mv2search.supernet.elastic import ElasticConv2d, ElasticConvNormAct, prefixed

__all__ = [
    "AttentionChoice",
    "StagePlan",
    "ElasticInvertedResidual",
    "ElasticMobileViTBlock",
    "ElasticStage",
]


class AttentionChoice(NamedTuple):
    """The active attention of one stage."""

    attn_type: str  # "separable", "mha" or "additive"
    attn_dim: int  # token width d
    depth: int  # attention layers (>= 1)
    ffn_hidden: int  # FFN hidden width h


class StagePlan(NamedTuple):
    """The active subnet of one stage."""

    out_channels: int  # width of every inverted-residual block's output
    hiddens: tuple[int, ...]  # hidden width of each active inverted-residual block (len = depth)
    attention: AttentionChoice | None  # None: no MobileViT block


class ElasticInvertedResidual(nn.Module):
    """Elastic MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 project.

    The shortcut is added when `stride == 1` and the active input and output widths are equal.

    Args:
        in_channels: Largest input width.
        out_channels: Largest output width.
        stride: Stride of the depthwise conv.
        hidden_channels: Largest hidden width.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, hidden_channels: int
    ) -> None:
        super().__init__()
        self.stride = stride
        self.conv1_1x1 = ElasticConvNormAct(in_channels, hidden_channels, 1)
        self.conv2_kxk = ElasticConvNormAct(
            hidden_channels, hidden_channels, 3, stride, depthwise=True
        )
        self.conv3_1x1 = ElasticConvNormAct(hidden_channels, out_channels, 1, act=False)

    def forward(self, x: torch.Tensor, hidden: int, out_channels: int) -> torch.Tensor:
        """`B x c x H x W` -> `B x out_channels x H/s x W/s`."""
        out = self.conv3_1x1(self.conv2_kxk(self.conv1_1x1(x, hidden), hidden), out_channels)
        return x + out if self.stride == 1 and x.shape[1] == out_channels else out

    def state(self, in_channels: int, hidden: int, out_channels: int) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `InvertedResidual` of the active widths."""
        return {
            **prefixed("conv1_1x1", self.conv1_1x1.state(in_channels, hidden)),
            **prefixed("conv2_kxk", self.conv2_kxk.state(hidden, hidden)),
            **prefixed("conv3_1x1", self.conv3_1x1.state(hidden, out_channels)),
        }


class ElasticMobileViTBlock(nn.Module):
    """Elastic MobileViT block: local convs -> unfold -> attention layers -> norm -> fold -> proj.

    Args:
        channels: Largest stage width `C`.
        attn_dim: Largest attention dim `D`.
        depth: Most attention layers.
        attn_types: The attention types the stage may take.
        ffn_hidden: Largest FFN hidden width.
        patch_size: Side of a patch.
        num_heads: Heads of mha.
        style: "v2" (depthwise local conv, no fusion) or "v1" (full conv, fusion).
    """

    def __init__(
        self,
        channels: int,
        attn_dim: int,
        depth: int,
        attn_types: Sequence[str],
        ffn_hidden: int,
        patch_size: int,
        num_heads: int,
        style: str,
    ) -> None:
        super().__init__()
        self.patch_size, self.style = patch_size, style
        self.conv_kxk = ElasticConvNormAct(channels, channels, 3, depthwise=style == "v2")
        self.conv_1x1 = ElasticConv2d(channels, attn_dim, 1)
        self.transformer = nn.ModuleList(
            ElasticAttentionLayer(attn_dim, ffn_hidden, attn_types, num_heads) for _ in range(depth)
        )
        self.norm = elastic_norms(attn_dim, attn_types)
        self.conv_proj = ElasticConvNormAct(attn_dim, channels, 1, act=style == "v1")
        self.conv_fusion = (
            ElasticConvNormAct(2 * channels, channels, 3, in_parts=2) if style == "v1" else None
        )

    def forward(self, x: torch.Tensor, choice: AttentionChoice) -> torch.Tensor:
        """`B x c x H x W` -> `B x c x H' x W'` (v2: H' = H rounded up to the patch; v1: H)."""
        height, width = x.shape[-2:]
        channels, p = x.shape[1], self.patch_size
        size = (math.ceil(height / p) * p, math.ceil(width / p) * p)
        resize = size != (height, width)
        if resize and self.style == "v2":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        shortcut = x
        x = self.conv_1x1(self.conv_kxk(x, channels), choice.attn_dim)
        if resize and self.style == "v1":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        channels_last = choice.attn_type != "separable"
        tokens = unfold_patches(x, p, channels_last)
        for layer in self.transformer[: choice.depth]:
            tokens = layer(tokens, choice.attn_type, choice.ffn_hidden)
        x = fold_patches(self.norm[NORM_KIND[choice.attn_type]](tokens), p, size, channels_last)
        if resize and self.style == "v1":
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        x = self.conv_proj(x, channels)
        if self.conv_fusion is not None:
            x = self.conv_fusion(torch.cat((shortcut, x), dim=1), channels)
        return x

    def state(self, channels: int, choice: AttentionChoice) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `MobileViTBlock` of the active widths and depth."""
        dim, kind = choice.attn_dim, choice.attn_type
        state = {
            **prefixed("conv_kxk", self.conv_kxk.state(channels, channels)),
            **prefixed("conv_1x1", self.conv_1x1.state(channels, dim)),
        }
        for index in range(choice.depth):
            layer = self.transformer[index].state(kind, dim, choice.ffn_hidden)
            state.update(prefixed(f"transformer.{index}", layer))
        state.update(prefixed("norm", self.norm[NORM_KIND[kind]].state(dim)))
        state.update(prefixed("conv_proj", self.conv_proj.state(dim, channels)))
        if self.conv_fusion is not None:
            state.update(prefixed("conv_fusion", self.conv_fusion.state(2 * channels, channels)))
        return state


class ElasticStage(nn.Module):
    """One stage: up to `len(hiddens)` inverted-residual blocks, then an optional MobileViT block.

    Args:
        in_channels: Largest input width (the previous stage's, or the stem's).
        out_channels: Largest stage width.
        stride: Stride of the first block.
        hiddens: Largest hidden width of each inverted-residual block (one per block).
        attention: The stage's largest MobileViT block, or None when it never has one.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        hiddens: Sequence[int],
        attention: ElasticMobileViTBlock | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ElasticInvertedResidual(
                in_channels if j == 0 else out_channels, out_channels, stride if j == 0 else 1, h
            )
            for j, h in enumerate(hiddens)
        )
        self.attention = attention

    def forward(self, x: torch.Tensor, plan: StagePlan) -> torch.Tensor:
        """`B x c x H x W` -> `B x plan.out_channels x H' x W'`."""
        for block, hidden in zip(self.blocks, plan.hiddens, strict=False):
            x = block(x, hidden, plan.out_channels)
        if plan.attention is not None:
            assert self.attention is not None  # the bounds check guarantees it
            x = self.attention(x, plan.attention)
        return x

    def state(self, in_channels: int, plan: StagePlan) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone stage (`nn.Sequential`: blocks `0..depth-1`, then `depth`)."""
        state: dict[str, torch.Tensor] = {}
        for j, hidden in enumerate(plan.hiddens):
            block = self.blocks[j].state(in_channels, hidden, plan.out_channels)
            state.update(prefixed(str(j), block))
            in_channels = plan.out_channels
        if plan.attention is not None:
            assert self.attention is not None
            mvit = self.attention.state(plan.out_channels, plan.attention)
            state.update(prefixed(str(len(plan.hiddens)), mvit))
        return state
