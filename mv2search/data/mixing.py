"""Batch mixing: MixUp [MU]_ and CutMix [CM]_ with label smoothing folded into soft targets.

For a batch `x` (`B x C x H x W`) with labels `y`, the partner of sample `i` is sample `B - 1 - i`
(the batch reversed, as timm's `Mixup` in batch mode). With `lam ~ Beta(alpha, alpha)`:

- MixUp: `x' = lam x + (1 - lam) flip(x)`;
- CutMix: a box of area `(1 - lam) H W` at a uniform centre, clipped to the image, is pasted from
  `flip(x)`; `lam` is then corrected to the share of pixels actually kept (timm's `correct_lam`);
- targets: `lam s(y) + (1 - lam) s(flip(y))`, where `s` is the smoothed one-hot
  `s(y)_c = 1 - eps + eps / K` for `c = y` and `eps / K` otherwise (K classes).

With both on, each batch uses CutMix with probability `switch_prob` (0.5), else MixUp; a batch is
mixed at all with probability `prob`. Randomness comes from an explicit `torch.Generator` (the
Beta draw through a numpy generator seeded from it).

References:
    .. [MU] Zhang et al., "mixup: Beyond Empirical Risk Minimization", arXiv:1710.09412.
    .. [CM] Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
       Localizable Features", arXiv:1905.04899.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MixConfig", "MixDraw", "Mixup", "one_hot_smooth", "draw_mix", "mix"]


@dataclass(frozen=True)
class MixConfig:
    """Settings of `mix`. An alpha of 0 turns that method off."""

    mixup_alpha: float = 0.2  # Beta(alpha, alpha) of MixUp
    cutmix_alpha: float = 1.0  # Beta(alpha, alpha) of CutMix
    switch_prob: float = 0.5  # probability of CutMix when both are on
    prob: float = 1.0  # probability of mixing a batch at all
    label_smoothing: float = 0.1  # eps of the smoothed one-hot targets

    def __post_init__(self) -> None:
        for name in ("mixup_alpha", "cutmix_alpha"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: {getattr(self, name)}; allowed: >= 0 (0 = off)")
        for name in ("switch_prob", "prob", "label_smoothing"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: {getattr(self, name)}; allowed: 0..1")


@dataclass(frozen=True)
class MixDraw:
    """One batch's draw: the method, the weight of the original batch and the CutMix box."""

    mode: str  # "none", "mixup" or "cutmix"
    lam: float  # weight of the original sample in [0, 1] (after the CutMix correction)
    box: tuple[int, int, int, int] | None = None  # CutMix (top, left, bottom, right), exclusive


def one_hot_smooth(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Smoothed one-hot targets `B x K`: `1 - eps + eps / K` on the label, `eps / K` elsewhere.

    Args:
        labels: Class indices, `B` (int).
        num_classes: K.
        smoothing: eps in [0, 1].

    Returns:
        float32 `B x K`, each row summing to 1.
    """
    off = smoothing / num_classes
    targets = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32)
    return targets.scatter_(1, labels.long()[:, None], 1.0 - smoothing + off)


def _beta(alpha: float, generator: torch.Generator) -> float:
    seed = int(torch.randint(2**62, (), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """timm's `rand_bbox`: a box of sides `sqrt(1 - lam) (H, W)` at a uniform centre, clipped."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator))
    cx = int(torch.randint(width, (), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, left, bottom, right


def draw_mix(config: MixConfig, height: int, width: int, generator: torch.Generator) -> MixDraw:
    """Draw the method, `lam` and (for CutMix) the box of one batch of `height x width` images."""
    mixup, cutmix = config.mixup_alpha > 0, config.cutmix_alpha > 0
    if not (mixup or cutmix) or torch.rand((), generator=generator).item() >= config.prob:
        return MixDraw("none", 1.0)
    use_cutmix = cutmix and (
        not mixup or torch.rand((), generator=generator).item() < config.switch_prob
    )
    if not use_cutmix:
        return MixDraw("mixup", _beta(config.mixup_alpha, generator))
    top, left, bottom, right = _cutmix_box(
        height, width, _beta(config.cutmix_alpha, generator), generator
    )
    lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    return MixDraw("cutmix", lam, (top, left, bottom, right))


def mix(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    generator: torch.Generator,
    config: MixConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with its reverse (MixUp or CutMix) and return soft targets.

    Args:
        images: `B x C x H x W` float (not modified).
        labels: `B` class indices.
        num_classes: K.
        generator: Source of all randomness.
        config: Alphas, probabilities and label smoothing (default `MixConfig()`).

    Returns:
        `(mixed images B x C x H x W, soft targets B x K)`; each target row sums to 1.
    """
    config = config or MixConfig()
    draw = draw_mix(config, images.shape[-2], images.shape[-1], generator)
    targets = one_hot_smooth(labels, num_classes, config.label_smoothing)
    if draw.mode == "none":
        return images, targets
    partner = images.flip(0)
    if draw.mode == "mixup":
        mixed = torch.lerp(partner, images, draw.lam)
    else:
        top, left, bottom, right = draw.box
        mixed = images.clone()
        mixed[..., top:bottom, left:right] = partner[..., top:bottom, left:right]
    return mixed, draw.lam * targets + (1.0 - draw.lam) * targets.flip(0)


class Mixup:
    """`mix` bound to its settings and class count, as timm's `Mixup` object.

    `Mixup(num_classes=10)(images, labels, generator) -> (mixed images, soft targets B x K)`.

    Args:
        num_classes: K.
        mixup_alpha: Beta(alpha, alpha) of MixUp (0 = off).
        cutmix_alpha: Beta(alpha, alpha) of CutMix (0 = off).
        label_smoothing: eps of the smoothed one-hot targets.
        switch_prob: Probability of CutMix when both are on.
        prob: Probability of mixing a batch at all.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        mixup_alpha: float = 0.2,
        cutmix_alpha: float = 1.0,
        label_smoothing: float = 0.1,
        switch_prob: float = 0.5,
        prob: float = 1.0,
    ):
        self.num_classes = num_classes
        self.config = MixConfig(mixup_alpha, cutmix_alpha, switch_prob, prob, label_smoothing)

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mix(images, labels, self.num_classes, generator, self.config)

    def __repr__(self) -> str:
        return f"Mixup(num_classes={self.num_classes}, {self.config})"
