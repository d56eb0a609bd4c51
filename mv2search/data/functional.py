"""Stateless image operations on `3 x H x W` uint8 tensors (float math inside, uint8 out).

The building blocks of `transforms` and `randaugment`: conversion, resizing, cropping, affine
warps and the photometric operations of RandAugment, with torchvision's definitions [TV]_ where one
exists. None of them draws random numbers.

References:
    .. [TV] torchvision.transforms.v2.functional (BSD-3), the reference semantics of
       `equalize`, `autocontrast`, `adjust_sharpness`, `posterize` and `solarize`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "INTERPOLATIONS",
    "to_uint8_tensor",
    "resize",
    "pil_crop_resize",
    "resize_shorter",
    "center_crop",
    "crop_resize",
    "affine",
    "rotation_matrix",
    "blend",
    "grayscale",
    "autocontrast",
    "equalize",
    "posterize",
    "solarize",
    "sharpness_degenerate",
]

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def to_uint8_tensor(image: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    """Convert a PIL image (any mode), an `H x W x 3` uint8 array or a `3 x H x W` uint8 tensor to
    a `3 x H x W` uint8 tensor (a view where possible).

    Raises:
        TypeError: for another type, dtype or shape.
    """
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB"))  # a writable copy
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise TypeError(f"image: array {image.dtype} {image.shape}; expected uint8 H x W x 3")
        if not image.flags.writeable:
            image = image.copy()
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.ndim == 3:
        if image.shape[0] != 3:
            raise TypeError(f"image: tensor of shape {tuple(image.shape)}; expected 3 x H x W")
        return image
    raise TypeError(f"image: {type(image).__name__}; expected a PIL image, numpy or uint8 tensor")


_PIL_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def pil_crop_resize(
    image: Image.Image, box: tuple[int, int, int, int], height: int, width: int, interpolation: str
) -> torch.Tensor:
    """Resize the region `box = (top, left, box_height, box_width)` of a PIL image to
    `height x width` with PIL (faster than tensors for large photos) and return a uint8 tensor."""
    top, left, box_height, box_width = box
    resized = image.convert("RGB").resize(
        (width, height),
        _PIL_RESAMPLE[interpolation],
        box=(left, top, left + box_width, top + box_height),
    )
    return to_uint8_tensor(resized)


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.round_().clamp_(0, 255).to(torch.uint8)


def resize(image: torch.Tensor, height: int, width: int, interpolation: str) -> torch.Tensor:
    """Resize to `height x width` (antialiased when shrinking, as PIL does)."""
    if image.shape[1:] == (height, width):
        return image
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: {interpolation!r}; allowed: {list(INTERPOLATIONS)}")
    batch = image[None].float()
    antialias = interpolation != "nearest"
    out = F.interpolate(
        batch,
        size=(height, width),
        mode=interpolation,
        antialias=antialias,
        **({} if interpolation == "nearest" else {"align_corners": False}),
    )
    return _to_uint8(out[0])


def resize_shorter(image: torch.Tensor, size: int, interpolation: str) -> torch.Tensor:
    """Resize so that the shorter side is `size`, keeping the aspect ratio."""
    height, width = image.shape[1:]
    if height <= width:
        return resize(image, size, max(1, round(width * size / height)), interpolation)
    return resize(image, max(1, round(height * size / width)), size, interpolation)


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Central `size x size` crop (zero-padded first if the image is smaller)."""
    height, width = image.shape[1:]
    if height < size or width < size:
        pad_h, pad_w = max(0, size - height), max(0, size - width)
        image = F.pad(image, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        height, width = image.shape[1:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[:, top : top + size, left : left + size]


def crop_resize(
    image: torch.Tensor, box: tuple[int, int, int, int], size: int, interpolation: str
) -> torch.Tensor:
    """Crop `box = (top, left, height, width)` and resize it to `size x size`."""
    top, left, height, width = box
    return resize(image[:, top : top + height, left : left + width], size, size, interpolation)


def affine(
    image: torch.Tensor,
    matrix: tuple[float, float, float, float],
    shift: tuple[float, float],
    fill: int = 128,
) -> torch.Tensor:
    """Warp about the image centre: output pixel `p` samples input `matrix @ p + shift` (pixels,
    `x` right, `y` down), bilinearly; samples from outside the image take the grey `fill`.

    Args:
        image: `3 x H x W` uint8.
        matrix: Row-major 2 x 2 map from output to input offsets (pixels, about the centre).
        shift: Input offset `(x, y)` in pixels added after the matrix.
        fill: Grey level of uncovered pixels.
    """
    height, width = image.shape[1:]
    a, b, c, d = matrix
    # normalised coordinates: x_n = 2 x / W, y_n = 2 y / H (align_corners=False)
    theta = torch.tensor(
        [
            [a, b * height / width, 2 * shift[0] / width],
            [c * width / height, d, 2 * shift[1] / height],
        ],
        dtype=torch.float32,
    )[None]
    grid = F.affine_grid(theta, [1, 4, height, width], align_corners=False)
    ones = torch.ones(1, 1, height, width)
    sampled = F.grid_sample(
        torch.cat([image[None].float(), ones], 1),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )[0]
    coverage = sampled[3:]
    return _to_uint8(sampled[:3] + (1.0 - coverage) * fill)


def rotation_matrix(degrees: float) -> tuple[float, float, float, float]:
    """Output-to-input matrix of a rotation by `degrees` (counter-clockwise on screen)."""
    rad = math.radians(degrees)
    return (math.cos(rad), -math.sin(rad), math.sin(rad), math.cos(rad))


def blend(image: torch.Tensor, degenerate: torch.Tensor, factor: float) -> torch.Tensor:
    """`factor * image + (1 - factor) * degenerate`, clamped to uint8 (PIL ImageEnhance)."""
    return _to_uint8(degenerate.float() + factor * (image.float() - degenerate.float()))


def grayscale(image: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma `1 x H x W` float (0.299 R + 0.587 G + 0.114 B)."""
    r, g, b = image.float()
    return (0.299 * r + 0.587 * g + 0.114 * b)[None]


def autocontrast(image: torch.Tensor) -> torch.Tensor:
    """Stretch each channel to the full 0-255 range (constant channels are unchanged)."""
    flat = image.float().flatten(1)
    low, high = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    scale = torch.where(high > low, 255.0 / (high - low).clamp(min=1e-6), torch.ones_like(high))
    low = torch.where(high > low, low, torch.zeros_like(low))
    return _to_uint8((image.float() - low) * scale)


def equalize(image: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each channel (PIL ImageOps.equalize / torchvision)."""
    out = []
    for channel in image:
        hist = torch.bincount(channel.flatten().long(), minlength=256)
        nonzero = hist[hist > 0]
        step = (nonzero.sum() - nonzero[-1]).div(255, rounding_mode="floor")
        if step == 0:
            out.append(channel)
            continue
        lut = (torch.cumsum(hist, 0) + step.div(2, rounding_mode="floor")).div(
            step, rounding_mode="floor"
        )
        lut = F.pad(lut, (1, 0))[:-1].clamp(0, 255)
        out.append(lut[channel.long()].to(torch.uint8))
    return torch.stack(out)


def posterize(image: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the `bits` most significant bits of each value."""
    mask = (0xFF << (8 - bits)) & 0xFF
    return image & mask


def solarize(image: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert values at or above `threshold`."""
    return torch.where(image >= threshold, 255 - image, image)


def sharpness_degenerate(image: torch.Tensor) -> torch.Tensor:
    """The smoothed image that sharpness blends with (PIL's SMOOTH kernel, borders kept)."""
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    smooth = F.conv2d(image[:, None].float(), kernel[None, None])[:, 0]
    out = image.float().clone()
    out[:, 1:-1, 1:-1] = smooth
    return out
