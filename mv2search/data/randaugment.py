"""RandAugment [RA]_ and RandomErasing [RE]_ on tensors, with randomness from an explicit generator.

RandAugment applies `num_ops` operations drawn uniformly (with replacement) from its op list, each
at strength `f = magnitude / 10` (timm's scale: magnitude 10 is the maximum) with a random sign for
the signed ops:

====================  =========================================================================
op                    effect at strength `f` (sign `s = +-1`)
====================  =========================================================================
identity              none
autocontrast          stretch each channel to 0-255
equalize              histogram-equalise each channel
rotate                rotate by `s * rotate * f` degrees (default `rotate` = 30)
solarize              invert values >= `256 * (1 - f)`
color                 saturation factor `1 + 0.9 s f`
posterize             keep `8 - floor(4 f)` bits
contrast              contrast factor `1 + 0.9 s f`
brightness            brightness factor `1 + 0.9 s f`
sharpness             sharpness factor `1 + 0.9 s f`
shear_x, shear_y      shear `s * 0.3 f`
translate_x/_y        shift `s * translate * f` of the side (default `translate` = 0.45, as timm)
====================  =========================================================================

Uncovered pixels of the geometric ops are grey (128), as in timm.

References:
    .. [RA] Cubuk et al., "RandAugment: Practical automated data augmentation with a reduced search
       space", arXiv:1909.13719.
    .. [RE] Zhong et al., "Random Erasing Data Augmentation", arXiv:1708.04896.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mv2search.data import functional as TF

__all__ = ["RANDAUGMENT_OPS", "GEOMETRIC_OPS", "RandAugment", "RandomErasing"]

RANDAUGMENT_OPS = (
    "identity",
    "autocontrast",
    "equalize",
    "rotate",
    "solarize",
    "color",
    "posterize",
    "contrast",
    "brightness",
    "sharpness",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
GEOMETRIC_OPS = ("identity", "rotate", "shear_x", "shear_y", "translate_x", "translate_y")


def _enhance(degenerate: Callable[[torch.Tensor], torch.Tensor]):
    def op(image: torch.Tensor, strength: float, sign: float) -> torch.Tensor:
        return TF.blend(image, degenerate(image), 1.0 + 0.9 * sign * strength)

    return op


def _shear(axis: int):
    def op(image: torch.Tensor, strength: float, sign: float) -> torch.Tensor:
        amount = 0.3 * sign * strength
        matrix = (1.0, amount, 0.0, 1.0) if axis == 0 else (1.0, 0.0, amount, 1.0)
        return TF.affine(image, matrix, (0.0, 0.0))

    return op


_SIMPLE_OPS: dict[str, Callable[[torch.Tensor, float, float], torch.Tensor]] = {
    "identity": lambda image, strength, sign: image,
    "autocontrast": lambda image, strength, sign: TF.autocontrast(image),
    "equalize": lambda image, strength, sign: TF.equalize(image),
    "solarize": lambda image, strength, sign: TF.solarize(image, 256.0 * (1.0 - strength)),
    "posterize": lambda image, strength, sign: TF.posterize(image, 8 - int(4 * strength)),
    "color": _enhance(lambda image: TF.grayscale(image).expand(3, -1, -1)),
    "contrast": _enhance(lambda image: TF.grayscale(image).mean().expand(image.shape)),
    "brightness": _enhance(lambda image: torch.zeros(image.shape)),
    "sharpness": _enhance(TF.sharpness_degenerate),
    "shear_x": _shear(0),
    "shear_y": _shear(1),
}


class RandAugment:
    """RandAugment on `3 x H x W` uint8 tensors (see the module docstring for the op table).

    Args:
        num_ops: Operations applied per image.
        magnitude: Strength on timm's 0-10 scale.
        ops: The op list to draw from (a subset of `RANDAUGMENT_OPS`; e.g. only label-preserving
            ones).
        translate: Largest translation, as a fraction of the side, at magnitude 10.
        rotate: Largest rotation in degrees at magnitude 10.
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9.0,
        ops: tuple[str, ...] = RANDAUGMENT_OPS,
        translate: float = 0.45,
        rotate: float = 30.0,
    ) -> None:
        unknown = sorted(set(ops) - set(RANDAUGMENT_OPS))
        if unknown or not ops:
            raise ValueError(f"ops: unknown {unknown} or empty; allowed: {list(RANDAUGMENT_OPS)}")
        if not 0 <= magnitude <= 10:
            raise ValueError(f"magnitude: {magnitude}; allowed: 0..10 (timm's scale)")
        self.num_ops, self.magnitude, self.ops = num_ops, magnitude, tuple(ops)
        self.translate, self.rotate = translate, rotate

    def apply(self, image: torch.Tensor, op: str, sign: float = 1.0) -> torch.Tensor:
        """Apply one named op at this transform's magnitude (deterministic given `sign`)."""
        strength = self.magnitude / 10.0
        height, width = image.shape[1:]
        if op == "rotate":
            return TF.affine(image, TF.rotation_matrix(sign * self.rotate * strength), (0.0, 0.0))
        if op in ("translate_x", "translate_y"):
            pixels = sign * self.translate * strength * (width if op == "translate_x" else height)
            shift = (-pixels, 0.0) if op == "translate_x" else (0.0, -pixels)
            return TF.affine(image, (1.0, 0.0, 0.0, 1.0), shift)
        return _SIMPLE_OPS[op](image, strength, sign)

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Apply `num_ops` random ops to `image` (`3 x H x W` uint8), drawing from `generator`."""
        choices = torch.randint(len(self.ops), (self.num_ops,), generator=generator).tolist()
        signs = torch.rand(self.num_ops, generator=generator).tolist()
        for choice, sign in zip(choices, signs, strict=True):
            image = self.apply(image, self.ops[choice], 1.0 if sign < 0.5 else -1.0)
        return image

    def __repr__(self) -> str:
        return f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, ops={self.ops})"


class RandomErasing:
    """Erase one random rectangle with per-pixel standard-normal noise (timm's `mode="pixel"`).

    Applied after normalisation, so the noise has the statistics of a normalised image. With
    probability `p`, up to 10 attempts draw an area fraction from `scale` and a log-uniform aspect
    ratio from `ratio`; the first rectangle that fits is erased.

    Args:
        p: Probability of erasing.
        scale: Range of the erased area as a fraction of the image.
        ratio: Range of the aspect ratio (height / width).
    """

    def __init__(
        self,
        p: float = 0.25,
        scale: tuple[float, float] = (0.02, 1 / 3),
        ratio: tuple[float, float] = (0.3, 3.3),
    ) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p: {p}; allowed: 0..1")
        self.p, self.scale, self.ratio = p, scale, ratio

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Erase in a copy of `image` (`C x H x W` float) with randomness from `generator`."""
        if torch.rand((), generator=generator).item() >= self.p:
            return image
        channels, height, width = image.shape
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            u = torch.rand(2, generator=generator).tolist()
            area = height * width * (self.scale[0] + u[0] * (self.scale[1] - self.scale[0]))
            aspect = math.exp(log_low + u[1] * (log_high - log_low))
            h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < h < height and 0 < w < width:
                top = int(torch.randint(height - h + 1, (), generator=generator))
                left = int(torch.randint(width - w + 1, (), generator=generator))
                image = image.clone()
                noise = torch.empty(channels, h, w).normal_(generator=generator)
                image[:, top : top + h, left : left + w] = noise
                return image
        return image

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio})"
