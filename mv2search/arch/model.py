"""`build_model(spec)`: one generic builder for every member of the MobileViTv2 family.

Layout (timm's module names, so state dicts map one to one): `stem`, `stages.0` ... `stages.4`
(each an `nn.Sequential` of inverted-residual blocks, then a `MobileViTBlock` in stages 3-5 unless
the stage's attention type is "none"), an optional `final_conv` (1x1 expansion, MobileViTv1), and
`head.fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from mv2search.arch.blocks import ConvNormAct, InvertedResidual, MobileViTBlock
from mv2search.arch.spec import STAGE_STRIDES, ArchSpec, ffn_hidden, ir_hidden, resolve_widths

__all__ = ["MobileViTv2", "ClassifierHead", "build_model", "init_weights", "BLOCKS"]

BLOCKS: dict[str, type[nn.Module]] = {"mv2": InvertedResidual, "mvit": MobileViTBlock}


class ClassifierHead(nn.Module):
    """Global average pooling -> linear classifier (`head.fc`)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)  # B x C
        return x if pre_logits else self.fc(x)


class MobileViTv2(nn.Module):
    """A MobileViTv2-family network built from an `ArchSpec` (see `mv2search.arch.spec`)."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        widths = resolve_widths(spec)
        self.stem = ConvNormAct(3, widths.stem, 3, stride=2)
        stages, in_channels = [], widths.stem
        for index, (depth, out_channels) in enumerate(
            zip(spec.ir_depths, widths.stages, strict=True)
        ):
            blocks: list[nn.Module] = []
            for j in range(depth):
                stride = STAGE_STRIDES[index] if j == 0 else 1
                hidden = ir_hidden(in_channels, spec.expand_ratio)
                blocks.append(InvertedResidual(in_channels, out_channels, stride, hidden))
                in_channels = out_channels
            attn_stage = index - 2
            if attn_stage >= 0 and spec.attn_types[attn_stage] != "none":
                dim = widths.attn_dims[attn_stage]
                blocks.append(
                    MobileViTBlock(
                        out_channels,
                        dim,
                        spec.attn_blocks[attn_stage],
                        spec.attn_types[attn_stage],
                        ffn_hidden(dim, spec.ffn_multiplier),
                        spec.patch_size,
                        spec.num_heads,
                        spec.block_style,
                    )
                )
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = in_channels
        self.final_conv: nn.Module = nn.Identity()
        if spec.head_conv_channels:
            self.final_conv = ConvNormAct(in_channels, spec.head_conv_channels, 1)
            self.num_features = spec.head_conv_channels
        self.head = ClassifierHead(self.num_features, spec.num_classes)
        self.apply(init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`B x 3 x H x W` image -> `B x C x h x w` feature map (after `final_conv`)."""
        return self.final_conv(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map -> `B x num_classes` logits (or `B x C` pooled features with
        `pre_logits`)."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B x 3 x H x W` image -> `B x num_classes` logits."""
        return self.forward_head(self.forward_features(x))


def build_model(spec: ArchSpec) -> MobileViTv2:
    """Build the network described by `spec` (randomly initialised, train mode).

    Args:
        spec: A validated architecture spec, e.g. `PRESETS["mobilevitv2_100"]`.

    Returns:
        The model; `model.spec` is the spec it was built from.
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"build_model: expected an ArchSpec, got {type(spec).__name__}")
    return MobileViTv2(spec)


def init_weights(module: nn.Module) -> None:
    """cvnets' init of one module (for `nn.Module.apply`): kaiming-normal (fan_out) convs,
    trunc-normal(0.02) linears, norms at 1/0; the supernet's init too."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
