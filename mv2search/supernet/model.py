"""`Supernet`: one weight-sharing network for every subnet of a search space (OFA/SPOS style).

Elastic dimensions (see `SupernetBounds` for what is bounded):

- width: every conv, linear and norm is sliced to the active spec's `resolve_widths` (its first
  channels), so one width multiplier's rounded channel counts are the front of the largest's;
- depth: the first `ir_depths[i]` blocks of a stage, the first `attn_blocks[i]` attention layers;
- FFN multiplier and expansion ratio: hidden units sliced;
- resolution: the input may have any size;
- attention type: SPOS-style choice, one attention weight set per type the stage allows.

Shared between attention types: everything but the attention itself and its norms, i.e. the
inverted-residual blocks, the local convs, 1x1 projections and v1 fusion conv of each MobileViT
block, and each attention layer's FFN (`mlp.fc1`, `mlp.fc2`: the separable type's 1x1 convs and
the others' linears are the same map). Per type: the attention (`attn.<type>`). Per norm kind:
the pre-norms and a block's final norm (GroupNorm(1) for separable; one LayerNorm shared by mha
and additive, which normalise tokens identically).

`extract(spec)` builds `mv2search.arch.build_model(spec)` and loads the inherited weights strictly,
so a subnet is an ordinary `MobileViTv2`; re-estimate its BatchNorm statistics with
`mv2search.train.bn.recalibrate_bn` before evaluating it (BatchNorm statistics depend on width;
GroupNorm(1) and LayerNorm have none).

References:
    .. [OFA] Cai et al., Once-for-All, arXiv 1908.09791.
    .. [BigNAS] Yu et al., BigNAS, arXiv 2003.11142.
    .. [SPOS] Guo et al., Single Path One-Shot NAS, arXiv 1904.00420.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from mv2search.arch.model import MobileViTv2, build_model, init_weights
from mv2search.arch.spec import STAGE_STRIDES, ArchSpec, ffn_hidden, ir_hidden, resolve_widths
from mv2search.supernet.blocks import (
    AttentionChoice,
    ElasticMobileViTBlock,
    ElasticStage,
    StagePlan,
)
from mv2search.supernet.bounds import SpaceLike, SupernetBounds
from mv2search.supernet.elastic import ElasticConvNormAct, ElasticLinear, prefixed

__all__ = ["Supernet", "stage_plans"]

_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def stage_plans(spec: ArchSpec) -> list[StagePlan]:
    """The active widths, depths and attention of each of the five stages of `spec`.

    Args:
        spec: The subnet.

    Returns:
        One `StagePlan` per stage, in order.
    """
    widths = resolve_widths(spec)
    plans, in_channels = [], widths.stem
    for index, (depth, out_channels) in enumerate(zip(spec.ir_depths, widths.stages, strict=True)):
        hiddens = []
        for _ in range(depth):
            hiddens.append(ir_hidden(in_channels, spec.expand_ratio))
            in_channels = out_channels
        attention = None
        attn_stage = index - 2
        if attn_stage >= 0 and spec.attn_types[attn_stage] != "none":
            dim = widths.attn_dims[attn_stage]
            attention = AttentionChoice(
                spec.attn_types[attn_stage],
                dim,
                spec.attn_blocks[attn_stage],
                ffn_hidden(dim, spec.ffn_multiplier),
            )
        plans.append(StagePlan(out_channels, tuple(hiddens), attention))
    return plans


class Supernet(nn.Module):
    """A weight-sharing MobileViTv2 supernet (see the module docstring).

    Args:
        space: A search space (`mv2search.search.load_space("mv2")`), whose largest subnet it
            holds, or explicit `SupernetBounds` (e.g. `SupernetBounds.covering(specs)`).

    The active subnet starts as `bounds.largest_spec()`; select another with `set_active(spec)`
    or `with supernet.active(spec): ...`.
    """

    def __init__(self, space: SpaceLike | SupernetBounds) -> None:
        super().__init__()
        bounds = space if isinstance(space, SupernetBounds) else SupernetBounds.from_space(space)
        self.bounds = bounds
        self.stem = ElasticConvNormAct(3, bounds.stem_channels, 3, stride=2)
        stages, in_channels = [], bounds.stem_channels
        for index, out_channels in enumerate(bounds.stage_channels):
            hiddens = [bounds.ir_hidden(index, j) for j in range(bounds.ir_depths[index])]
            stage = ElasticStage(
                in_channels, out_channels, STAGE_STRIDES[index], hiddens, self._attention(index)
            )
            stages.append(stage)
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.final_conv = None
        if bounds.head_conv_channels:
            self.final_conv = ElasticConvNormAct(in_channels, bounds.head_conv_channels, 1)
            in_channels = bounds.head_conv_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = ElasticLinear(in_channels, bounds.num_classes)
        self.apply(init_weights)  # build_model's init (the FFN is held as linears)
        self._active = bounds.largest_spec()

    def _attention(self, index: int) -> ElasticMobileViTBlock | None:
        attn_stage, bounds = index - 2, self.bounds
        if attn_stage < 0 or not bounds.attn_blocks[attn_stage]:
            return None
        return ElasticMobileViTBlock(
            bounds.stage_channels[index],
            bounds.attn_dims[attn_stage],
            bounds.attn_blocks[attn_stage],
            bounds.attn_types[attn_stage],
            bounds.ffn_hidden(attn_stage),
            bounds.patch_size,
            bounds.num_heads,
            bounds.block_style,
        )

    # --------------------------------------------------------------------------- the active subnet
    @property
    def active_spec(self) -> ArchSpec:
        """The spec of the subnet that `forward` runs."""
        return self._active

    def set_active(self, spec: ArchSpec) -> None:
        """Select the subnet `forward` runs.

        Args:
            spec: A spec inside `bounds` (its `image_size` is not used: any input size runs).

        Raises:
            ValueError: naming the first field of `spec` outside the supernet.
        """
        if not isinstance(spec, ArchSpec):
            raise TypeError(f"set_active: expected an ArchSpec, got {type(spec).__name__}")
        self.bounds.check(spec)
        self._active = spec

    @contextlib.contextmanager
    def active(self, spec: ArchSpec) -> Iterator[Supernet]:
        """Context manager: `spec` is active inside the block; the previous subnet after it.

        Raises:
            ValueError: naming the first field of `spec` outside the supernet.
        """
        previous = self._active
        self.set_active(spec)
        try:
            yield self
        finally:
            self._active = previous

    # ------------------------------------------------------------------------------------ forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`B x 3 x H x W` image -> `B x C x h x w` feature map of the active subnet."""
        spec = self._active
        x = self.stem(x, resolve_widths(spec).stem)
        for stage, plan in zip(self.stages, stage_plans(spec), strict=True):
            x = stage(x, plan)
        if self.final_conv is not None:
            x = self.final_conv(x, spec.head_conv_channels)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B x 3 x H x W` image -> `B x num_classes` logits of the active subnet."""
        pooled = self.pool(self.forward_features(x)).flatten(1)  # B x C
        return self.head(pooled, self.bounds.num_classes)

    # --------------------------------------------------------------------------------- extraction
    def subnet_state_dict(self, spec: ArchSpec | None = None) -> dict[str, torch.Tensor]:
        """The inherited weights of a subnet, under the keys of `build_model(spec).state_dict()`.

        Args:
            spec: The subnet (default: the active one).

        Returns:
            Detached tensors; many are views of the supernet's weights (copy before editing).

        Raises:
            ValueError: naming the first field of `spec` outside the supernet.
        """
        spec = self._active if spec is None else spec
        self.bounds.check(spec)
        widths = resolve_widths(spec)
        state = prefixed("stem", self.stem.state(3, widths.stem))
        in_channels = widths.stem
        for index, (stage, plan) in enumerate(zip(self.stages, stage_plans(spec), strict=True)):
            state.update(prefixed(f"stages.{index}", stage.state(in_channels, plan)))
            in_channels = plan.out_channels
        if self.final_conv is not None:
            final = self.final_conv.state(in_channels, spec.head_conv_channels)
            state.update(prefixed("final_conv", final))
            in_channels = spec.head_conv_channels
        state.update(prefixed("head.fc", self.head.state(in_channels, self.bounds.num_classes)))
        return {key: value.detach() for key, value in state.items()}

    def num_active_params(self, spec: ArchSpec | None = None) -> int:
        """Number of supernet parameter entries a subnet uses (BatchNorm statistics excluded).

        Args:
            spec: The subnet (default: the active one).

        Returns:
            The count; equals `mv2search.cost.count_params(spec)`.
        """
        state = self.subnet_state_dict(spec)
        return sum(v.numel() for k, v in state.items() if k.rsplit(".", 1)[-1] not in _BN_BUFFERS)

    def extract(self, spec: ArchSpec | None = None) -> MobileViTv2:
        """A stand-alone `build_model(spec)` holding the inherited weights (train mode).

        Args:
            spec: The subnet (default: the active one).

        Returns:
            The model, on the supernet's device and dtype, sharing no storage with it.

        Raises:
            ValueError: naming the first field of `spec` outside the supernet.
        """
        spec = self._active if spec is None else spec
        state = self.subnet_state_dict(spec)
        reference = self.head.weight
        model = build_model(spec).to(device=reference.device, dtype=reference.dtype)
        model.load_state_dict(state, strict=True)
        return model
