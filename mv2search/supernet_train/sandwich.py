"""One sandwich-rule step's losses and gradients (BigNAS), each subnet at its own resolution.

For one batch `(x, y)` (`B x 3 x H x W` images at the data set's resolution, `B` labels) and the
subnets `largest, s_1, ..., s_k` (`s_1` the smallest, the others random), with `x_r` the batch
resized to subnet `r`'s training resolution `proxy_resolution(image_size_r, scale)`:

    teacher:  L_ce   = CE_ls(f_largest(x_largest), y)                 (label smoothing ls)
              p      = softmax(f_largest(x_largest)).detach()          (`B x C`)
    student:  L_kd,i = KL(p || softmax(f_{s_i}(x_{s_i})))              (batch mean, nats)
    total:    L      = L_ce + sum_i L_kd,i

The KL has the gradient of the soft cross-entropy `-sum_c p_c log q_c` (the two differ by the
teacher's entropy, a constant), so `L_kd` is 0 when a student matches its teacher. Gradients are
accumulated over the sandwich (one `backward` per subnet, so only one subnet's graph is alive at
a time); the caller clips them and takes one optimizer step. The teacher is not detached from
its own loss: the largest is trained on the labels, the others by in-place distillation.

References:
    .. [BigNAS] Yu et al., BigNAS: Scaling Up Neural Architecture Search with Big Single-Stage
       Models, arXiv 2003.11142 (sandwich rule, in-place distillation).
    .. [US-Nets] Yu and Huang, Universally Slimmable Networks, arXiv 1903.05134.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mv2search.arch import ArchSpec
from mv2search.supernet import Supernet
from mv2search.supernet_train.config import SupernetTrainConfig
from mv2search.train.numerics import loss_fn

__all__ = ["SandwichLosses", "proxy_resolution", "resize", "sandwich_backward"]


def proxy_resolution(image_size: int, scale: float) -> int:
    """The training resolution: `image_size x scale` rounded to a multiple of 8, >= 32.

    The formula of `mv2search.search.evaluator.proxy_resolution` (which this layer cannot import;
    a test holds the two equal), so a subnet trains at the resolution its search proxy used.
    """
    return max(32, 8 * round(image_size * scale / 8))


def resize(images: torch.Tensor, side: int) -> torch.Tensor:
    """`B x 3 x H x W` -> `B x 3 x side x side`: bilinear with antialiasing (a no-op at size).

    Args:
        images: The batch.
        side: The output height and width in pixels.

    Returns:
        The resized batch (the input itself when it has that size already).
    """
    if images.shape[-2:] == (side, side):
        return images
    return F.interpolate(
        images, size=(side, side), mode="bilinear", antialias=True, align_corners=False
    )


@dataclass(frozen=True)
class SandwichLosses:
    """The losses of one sandwich (values after the forward passes, before the update)."""

    ce: float  # the largest subnet's cross-entropy on the labels (with label smoothing)
    distill: tuple[float, ...]  # each other subnet's KL to the largest's soft logits

    @property
    def distill_mean(self) -> float:
        """Mean distillation loss over the distilled subnets (NaN when there are none)."""
        return sum(self.distill) / len(self.distill) if self.distill else float("nan")

    @property
    def finite(self) -> bool:
        """Whether every loss is finite."""
        return all(torch.isfinite(torch.tensor([self.ce, *self.distill])).tolist())


def sandwich_backward(
    supernet: Supernet,
    images: torch.Tensor,
    labels: torch.Tensor,
    subnets: Sequence[ArchSpec],
    cfg: SupernetTrainConfig,
    autocast: bool = False,
) -> SandwichLosses:
    """Forward and backward every subnet of a sandwich, accumulating into `.grad`.

    Args:
        supernet: In train mode, its gradients zeroed (or set to None) by the caller.
        images: `B x 3 x H x W` at the data set's resolution (at least every subnet's), on the
            supernet's device.
        labels: `B` class indices.
        subnets: The largest first (the teacher), then the subnets to distil (may be none).
        cfg: Gives `resolution_scale` and `label_smoothing`.
        autocast: Run the forward passes in bf16.

    Returns:
        The losses (see the module docstring).
    """
    scale, smoothing = cfg.resolution_scale, cfg.label_smoothing
    teacher, *students = subnets
    logits = _forward(supernet, teacher, images, scale, autocast)
    ce = loss_fn(logits, labels, smoothing)
    ce.backward()
    soft = F.softmax(logits.detach(), dim=-1)  # B x C
    distill = []
    for spec in students:
        student = _forward(supernet, spec, images, scale, autocast)
        loss = F.kl_div(F.log_softmax(student, dim=-1), soft, reduction="batchmean")
        loss.backward()
        distill.append(loss.item())
    return SandwichLosses(ce.item(), tuple(distill))


def _forward(
    supernet: Supernet, spec: ArchSpec, images: torch.Tensor, scale: float, autocast: bool
) -> torch.Tensor:
    """`B x C` float32 logits of subnet `spec` on `images` resized to its training resolution."""
    side = proxy_resolution(spec.image_size, scale)
    if side > images.shape[-1]:
        raise ValueError(
            f"image_size: subnet at {spec.image_size} px trains at {side} px, above the data "
            f"set's {images.shape[-1]} px"
        )
    with supernet.active(spec):
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = supernet(resize(images, side))
    return logits.float()
