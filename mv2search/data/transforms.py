"""Train and eval transforms with explicit randomness: `transform(image, generator) -> tensor`.

Every random transform draws from the `torch.Generator` passed at call time, never from a global
RNG. A dataset seeds one generator per `(seed, epoch, index)` (`seeding.sample_generator`), so a
sample is the same whatever the number of DataLoader workers, and training resumes exactly.

Geometric and photometric steps work on `3 x H x W` uint8 tensors; `Normalize` turns them into
float32 `(x / 255 - mean) / std` (ImageNet statistics); `RandomErasing` acts on the result.

Policies (`build_transform`):

========  ======================================================================================
policy    train pipeline (eval is always resize + centre crop + normalise)
========  ======================================================================================
none      the eval pipeline
light     small random translation and zoom (reflect pad + crop), horizontal flip
imagenet  RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3) + horizontal flip
full      imagenet + RandAugment(2, 9) + RandomErasing(p 0.25, pixel noise)
========  ======================================================================================

A `LabelPreserving` value restricts these to what keeps a data set's labels (the embedded set
keeps hflip but narrows crops and translations and drops colour ops and erasing; see
`embedded.EMBEDDED_AUGMENTATIONS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from mv2search.data import functional as TF
from mv2search.data.randaugment import RANDAUGMENT_OPS, RandAugment, RandomErasing

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "POLICIES",
    "LabelPreserving",
    "NATURAL_IMAGES",
    "Transform",
    "Compose",
    "Normalize",
    "Resize",
    "RandomResizedCrop",
    "RandomPadCrop",
    "RandomHorizontalFlip",
    "build_transform",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POLICIES = ("none", "light", "imagenet", "full")
Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class LabelPreserving:
    """The augmentations (and their ranges) that keep the labels of a data set."""

    hflip: bool = True  # a horizontal flip keeps the label
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop area fractions
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # RandomResizedCrop aspect ratios
    translate: float = 0.45  # largest shift as a fraction of the side (RandAugment at m = 10)
    light_translate: float = 0.125  # shift of the `light` policy, fraction of the side
    light_zoom: tuple[float, float] = (0.9, 1.1)  # zoom range of the `light` policy
    rotate: float = 30.0  # largest RandAugment rotation at m = 10, degrees
    randaugment_ops: tuple[str, ...] = RANDAUGMENT_OPS  # ops that keep the label
    erasing: bool = True  # RandomErasing keeps the label
    stored_at_size: bool = False  # images come at the model resolution: eval = normalise only


NATURAL_IMAGES = LabelPreserving()


class Compose:
    """Apply transforms in order, passing the same generator to each."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = tuple(transforms)

    def __call__(self, image, generator: torch.Generator) -> torch.Tensor:
        """Apply to `image` (PIL, `H x W x 3` uint8 array or `3 x H x W` uint8 tensor); a PIL
        image stays PIL for the first step if that step resizes it with PIL (`accepts_pil`)."""
        for transform in self.transforms:
            pil_ok = isinstance(image, Image.Image) and getattr(transform, "accepts_pil", False)
            if not (isinstance(image, torch.Tensor) or pil_ok):
                image = TF.to_uint8_tensor(image)
            image = transform(image, generator)
        return TF.to_uint8_tensor(image) if not isinstance(image, torch.Tensor) else image

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Normalize:
    """uint8 `3 x H x W` -> float32 `(x / 255 - mean) / std`."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.scale = (1.0 / (255.0 * torch.tensor(std)))[:, None, None]
        self.offset = (torch.tensor(mean) / torch.tensor(std))[:, None, None]

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return image.float() * self.scale - self.offset

    def __repr__(self) -> str:
        return "Normalize(imagenet)"


class Resize:
    """Eval resize: shorter side to `size / crop_pct`, then a central `size x size` crop."""

    accepts_pil = True

    def __init__(self, size: int, crop_pct: float = 0.875, interpolation: str = "bicubic"):
        if not 0 < crop_pct <= 1:
            raise ValueError(f"crop_pct: {crop_pct}; allowed: (0, 1]")
        self.size, self.crop_pct, self.interpolation = size, crop_pct, interpolation
        self.shorter = math.floor(size / crop_pct)

    def __call__(
        self, image: torch.Tensor | Image.Image, generator: torch.Generator
    ) -> torch.Tensor:
        if isinstance(image, Image.Image):  # one PIL resize of the box that survives the crop
            return TF.pil_crop_resize(
                image,
                self._box(image.height, image.width),
                self.size,
                self.size,
                self.interpolation,
            )
        image = TF.resize_shorter(image, self.shorter, self.interpolation)
        return TF.center_crop(image, self.size)

    def _box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The input region that shorter-side resize + centre crop keeps (at most the image)."""
        scale = self.shorter / min(height, width)
        box_h, box_w = min(height, round(self.size / scale)), min(width, round(self.size / scale))
        return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w

    def __repr__(self) -> str:
        return f"Resize({self.size}, crop_pct={self.crop_pct})"


class RandomResizedCrop:
    """Crop a random area fraction in `scale` with log-uniform aspect ratio in `ratio`, resized
    to `size x size` (torchvision's sampling: 10 attempts, then a central crop)."""

    accepts_pil = True

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = "bicubic",
    ):
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale: {scale}; allowed: 0 < low <= high <= 1")
        self.size, self.scale, self.ratio, self.interpolation = size, scale, ratio, interpolation

    def box(self, height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int]:
        """Sample `(top, left, crop_height, crop_width)` for an image of `height x width`."""
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            u = torch.rand(2, generator=generator).tolist()
            area = height * width * (self.scale[0] + u[0] * (self.scale[1] - self.scale[0]))
            aspect = math.exp(log_low + u[1] * (log_high - log_low))
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(height - h + 1, (), generator=generator))
                left = int(torch.randint(width - w + 1, (), generator=generator))
                return top, left, h, w
        aspect = min(max(width / height, self.ratio[0]), self.ratio[1])
        w, h = (
            (width, round(width / aspect))
            if aspect < width / height
            else (round(height * aspect), height)
        )
        w, h = min(w, width), min(h, height)
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(
        self, image: torch.Tensor | Image.Image, generator: torch.Generator
    ) -> torch.Tensor:
        if isinstance(image, Image.Image):
            box = self.box(image.height, image.width, generator)
            return TF.pil_crop_resize(image, box, self.size, self.size, self.interpolation)
        box = self.box(image.shape[1], image.shape[2], generator)
        return TF.crop_resize(image, box, self.size, self.interpolation)

    def __repr__(self) -> str:
        return f"RandomResizedCrop({self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomPadCrop:
    """Small random translation and zoom: reflect-pad, crop a square of side `size / zoom` at a
    random offset of at most `translate * size`, resize to `size x size`.

    Args:
        size: Output side (the input is expected at this size, e.g. after `Resize`).
        translate: Largest shift per axis as a fraction of the side.
        zoom: Range of the zoom factor (> 1 magnifies).
    """

    def __init__(self, size: int, translate: float = 0.125, zoom: tuple[float, float] = (1, 1)):
        self.size, self.translate, self.zoom = size, translate, zoom

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        height, width = image.shape[1:]
        u = torch.rand(3, generator=generator).tolist()
        zoom = self.zoom[0] + u[0] * (self.zoom[1] - self.zoom[0])
        side_h, side_w = max(1, round(height / zoom)), max(1, round(width / zoom))
        shift_y = round((2 * u[1] - 1) * self.translate * height)
        shift_x = round((2 * u[2] - 1) * self.translate * width)
        top, left = (height - side_h) // 2 + shift_y, (width - side_w) // 2 + shift_x
        pad = max(0, -top, -left, top + side_h - height, left + side_w - width)
        pad = min(pad, height - 1, width - 1)  # reflect padding must be smaller than the image
        if pad:
            image = torch.nn.functional.pad(image[None].float(), (pad,) * 4, mode="reflect")[0]
            image = image.to(torch.uint8)
        top = min(max(top + pad, 0), image.shape[1] - side_h)
        left = min(max(left + pad, 0), image.shape[2] - side_w)
        return TF.crop_resize(image, (top, left, side_h, side_w), self.size, "bilinear")

    def __repr__(self) -> str:
        return f"RandomPadCrop({self.size}, translate={self.translate}, zoom={self.zoom})"


class RandomHorizontalFlip:
    """Mirror left-right with probability `p`."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        flip = torch.rand((), generator=generator).item() < self.p
        return image.flip(-1) if flip else image

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def build_transform(
    policy: str,
    image_size: int,
    train: bool,
    *,
    label_preserving: LabelPreserving = NATURAL_IMAGES,
    crop_pct: float = 0.875,
    interpolation: str = "bicubic",
) -> Compose:
    """The transform of a named policy (see the module docstring).

    Args:
        policy: One of `POLICIES`.
        image_size: Output side in pixels.
        train: Training pipeline (random) or evaluation pipeline (deterministic).
        label_preserving: What keeps the data set's labels; ops outside it are dropped or narrowed.
        crop_pct: Eval centre-crop fraction (the shorter side is resized to `size / crop_pct`).
        interpolation: `bilinear` or `bicubic` for resizing.

    Returns:
        A `Compose`: call it as `transform(image, generator)` to get a float32 `3 x S x S` tensor.

    Raises:
        ValueError: for an unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy: {policy!r}; allowed: {list(POLICIES)}")
    lp = label_preserving
    # images stored at the model size need no resize; others are brought to size first
    base = [] if lp.stored_at_size else [Resize(image_size, crop_pct, interpolation)]
    if not train or policy == "none":
        return Compose([*base, Normalize()])
    steps: list[Transform] = []
    if policy == "light":
        zoom, shift = lp.light_zoom, min(lp.light_translate, lp.translate)
        steps += [*base, RandomPadCrop(image_size, shift, zoom)]
    else:
        steps.append(RandomResizedCrop(image_size, lp.crop_scale, lp.crop_ratio, interpolation))
    if lp.hflip:
        steps.append(RandomHorizontalFlip())
    if policy == "full":
        steps.append(RandAugment(2, 9.0, lp.randaugment_ops, lp.translate, lp.rotate))
    steps.append(Normalize())
    if policy == "full" and lp.erasing:
        steps.append(RandomErasing(p=0.25))
    return Compose(steps)
