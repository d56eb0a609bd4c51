"""Elastic layers: the weights of the largest layer, sliced to the active width at every call.

Slicing rule (OFA's `dynamic_op.py`): a layer of active width `c` uses the first `c` output
channels (rows) and the first `c` input channels (columns) of the largest layer's weight, and the
first `c` entries of its bias, norm affine and BatchNorm running statistics. A weight whose rows
(or columns) are several parts laid end to end (`[Q; K; V]`, `3D x D`; the concatenated input of
the v1 fusion conv) keeps the first `d` of each part: `[Q[:d]; K[:d]; V[:d]]`, which is the layout
of the stand-alone layer of width `d`.

The input width is read from the input (`x.shape[1]` channels-first, `x.shape[-1]` channels-last);
only output widths are passed. Each layer's `state(...)` returns the sliced tensors under the
parameter names of its stand-alone counterpart in `mv2search.arch.blocks`, so that forward and
extraction use the very same slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "take",
    "prefixed",
    "ElasticConv2d",
    "ElasticLinear",
    "ElasticBatchNorm2d",
    "ElasticGroupNorm",
    "ElasticLayerNorm",
    "ElasticConvNormAct",
]

Parts = int | Sequence[int]


def _parts(size: Parts) -> tuple[int, ...]:
    return (size,) if isinstance(size, int) else tuple(size)


def take(tensor: torch.Tensor, dim: int, full: Parts, active: Parts) -> torch.Tensor:
    """The first `active[k]` entries of each part `k` of `tensor` along `dim`, end to end.

    Args:
        tensor: A weight or bias whose size along `dim` is `sum(full)`.
        dim: The axis to slice.
        full: Sizes of the parts in the largest layer (an int: one part).
        active: Sizes to keep of each part, each at most the matching `full`.

    Returns:
        A tensor of size `sum(active)` along `dim`: a view for one part, else a copy.
    """
    full, active = _parts(full), _parts(active)
    if len(full) == 1:
        return tensor.narrow(dim, 0, active[0])
    pieces = tensor.split(list(full), dim=dim)
    return torch.cat(
        [piece.narrow(dim, 0, size) for piece, size in zip(pieces, active, strict=True)], dim=dim
    )


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with `prefix.` in front of every key."""
    return {f"{prefix}.{key}": value for key, value in state.items()}


def _equal_parts(width: int, count: int) -> tuple[int, ...]:
    return (width // count,) * count


class ElasticConv2d(nn.Conv2d):
    """A conv of the largest size (`out_max x in_max x k x k`), run on its first channels.

    Args:
        in_channels: Largest input width (the sum of `in_parts` equal parts).
        out_channels: Largest output width.
        kernel_size: Odd kernel side ('same' padding, as `ConvNormAct`).
        stride: Stride.
        depthwise: One filter per channel (`groups = channels`, `out = in`).
        bias: With a bias.
        in_parts: Number of equal parts the input is made of (2: the v1 fusion conv's concat).
        out_parts: Sizes of the parts of the output (`(1, D, D)`: separable attention's qkv).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        *,
        depthwise: bool = False,
        bias: bool = False,
        in_parts: int = 1,
        out_parts: Parts | None = None,
    ) -> None:
        groups = in_channels if depthwise else 1
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=groups,
            bias=bias,
        )
        self.depthwise, self.in_parts = depthwise, in_parts
        self.out_parts = _parts(out_channels if out_parts is None else out_parts)

    def sliced(self, in_channels: int, out: Parts) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight `out x in x k x k` (`out x 1 x k x k` depthwise) and bias of the active layer."""
        weight = take(self.weight, 0, self.out_parts, out)
        if not self.depthwise:
            full = _equal_parts(self.in_channels, self.in_parts)
            weight = take(weight, 1, full, _equal_parts(in_channels, self.in_parts))
        bias = None if self.bias is None else take(self.bias, 0, self.out_parts, out)
        return weight, bias

    def forward(self, x: torch.Tensor, out: Parts) -> torch.Tensor:  # type: ignore[override]
        """`B x c x H x W` -> `B x sum(out) x H/s x W/s` (depthwise: `out` must equal `c`)."""
        weight, bias = self.sliced(x.shape[1], out)
        groups = x.shape[1] if self.depthwise else 1
        return F.conv2d(x, weight, bias, self.stride, self.padding, groups=groups)

    def state(self, in_channels: int, out: Parts) -> dict[str, torch.Tensor]:
        """`weight` (and `bias`) of the stand-alone `nn.Conv2d` of the active width."""
        weight, bias = self.sliced(in_channels, out)
        return {"weight": weight} if bias is None else {"weight": weight, "bias": bias}


class ElasticLinear(nn.Linear):
    """A linear layer of the largest size (`out_max x in_max`), run on its first units.

    Args:
        in_features: Largest input width.
        out_features: Largest output width.
        out_parts: Sizes of the parts of the output (`(D, D, D)`: the qkv of mha).
    """

    def __init__(self, in_features: int, out_features: int, out_parts: Parts | None = None) -> None:
        super().__init__(in_features, out_features)
        self.out_parts = _parts(out_features if out_parts is None else out_parts)

    def sliced(self, in_features: int, out: Parts) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight `out x in` and bias `out` of the active layer."""
        weight = take(self.weight, 0, self.out_parts, out)[:, :in_features]
        return weight, take(self.bias, 0, self.out_parts, out)

    def forward(self, x: torch.Tensor, out: Parts) -> torch.Tensor:  # type: ignore[override]
        """`... x c` -> `... x sum(out)`."""
        return F.linear(x, *self.sliced(x.shape[-1], out))

    def state(self, in_features: int, out: Parts) -> dict[str, torch.Tensor]:
        """`weight` and `bias` of the stand-alone `nn.Linear` of the active width."""
        weight, bias = self.sliced(in_features, out)
        return {"weight": weight, "bias": bias}


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose affine and running statistics are sliced to the input's `c` channels.

    In train mode the running statistics of the first `c` channels are updated in place (the
    slices are views); `momentum=None` gives the cumulative average, as in `nn.BatchNorm2d`, so
    `mv2search.train.bn.recalibrate_bn` works on a supernet with a subnet active.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B x c x H x W` -> same shape."""
        channels = x.shape[1]
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(
            x,
            self.running_mean[:channels],
            self.running_var[:channels],
            self.weight[:channels],
            self.bias[:channels],
            self.training,
            factor,
            self.eps,
        )

    def state(self, channels: int) -> dict[str, torch.Tensor]:
        """Affine, running statistics and batch count of the stand-alone layer."""
        return {
            "weight": self.weight[:channels],
            "bias": self.bias[:channels],
            "running_mean": self.running_mean[:channels],
            "running_var": self.running_var[:channels],
            "num_batches_tracked": self.num_batches_tracked,
        }


class ElasticGroupNorm(nn.GroupNorm):
    """GroupNorm(1, D) sliced to the input's `d` channels (channels-first `B x d x ...`)."""

    def __init__(self, channels: int) -> None:
        super().__init__(1, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B x d x ...` -> same shape, normalised over everything but the batch."""
        channels = x.shape[1]
        return F.group_norm(x, 1, self.weight[:channels], self.bias[:channels], self.eps)

    def state(self, channels: int) -> dict[str, torch.Tensor]:
        """`weight` and `bias` of the stand-alone `nn.GroupNorm(1, d)`."""
        return {"weight": self.weight[:channels], "bias": self.bias[:channels]}


class ElasticLayerNorm(nn.LayerNorm):
    """LayerNorm(D) sliced to the input's last dim `d` (channels-last `... x d`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`... x d` -> same shape, normalised over the last dim."""
        dim = x.shape[-1]
        return F.layer_norm(x, (dim,), self.weight[:dim], self.bias[:dim], self.eps)

    def state(self, dim: int) -> dict[str, torch.Tensor]:
        """`weight` and `bias` of the stand-alone `nn.LayerNorm(d)`."""
        return {"weight": self.weight[:dim], "bias": self.bias[:dim]}


class ElasticConvNormAct(nn.Module):
    """Elastic `ConvNormAct`: conv (no bias) -> sliced BatchNorm2d -> optional SiLU.

    Args:
        in_channels: Largest input width.
        out_channels: Largest output width.
        kernel_size: Odd kernel side.
        stride: Stride.
        depthwise: One filter per channel.
        act: SiLU after the norm.
        in_parts: Number of equal parts the input is made of.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        *,
        depthwise: bool = False,
        act: bool = True,
        in_parts: int = 1,
    ) -> None:
        super().__init__()
        self.conv = ElasticConv2d(
            in_channels, out_channels, kernel_size, stride, depthwise=depthwise, in_parts=in_parts
        )
        self.bn = ElasticBatchNorm2d(out_channels)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        """`B x c x H x W` -> `B x out_channels x H/s x W/s`."""
        return self.act(self.bn(self.conv(x, out_channels)))

    def state(self, in_channels: int, out_channels: int) -> dict[str, torch.Tensor]:
        """`conv.*` and `bn.*` of the stand-alone `ConvNormAct` of the active widths."""
        return {
            **prefixed("conv", self.conv.state(in_channels, out_channels)),
            **prefixed("bn", self.bn.state(out_channels)),
        }
