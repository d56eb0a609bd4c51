"""Drawing primitives of the embedded data set: backgrounds, textured shapes, downsampling.

Everything is drawn on a float32 canvas (`S x S x 3`, values 0-255) at twice the output resolution
and box-downsampled, which antialiases edges and textures. Pixel values use only IEEE-exact
arithmetic (`+ - * /`, floor, comparisons) and PIL's integer rasteriser; angles come from a table of
whole degrees, so an image is bit-identical across processes and machines for the same numpy/PIL.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "COS_SIN",
    "Shape",
    "TEXTURES",
    "SHAPE_KINDS",
    "background",
    "draw_shape",
    "downsample",
    "hsv",
]

TEXTURES = ("stripes", "dots", "checker", "solid")
SHAPE_KINDS = ("circle", "square", "triangle", "hexagon", "star")
# cos/sin of whole degrees, rounded once so that libm differences cannot reach a pixel
COS_SIN = [
    (round(math.cos(math.radians(d)), 12), round(math.sin(math.radians(d)), 12)) for d in range(360)
]


def _polygon(vertices: int, inner: float = 1.0) -> tuple[tuple[float, float], ...]:
    """Unit polygon (radius 1, first vertex up); `inner` < 1 alternates radii (a star)."""
    points = []
    for k in range(vertices * (2 if inner < 1 else 1)):
        step = 360 // vertices // (2 if inner < 1 else 1)
        cos, sin = COS_SIN[(270 + k * step) % 360]
        radius = inner if (inner < 1 and k % 2) else 1.0
        points.append((radius * cos, radius * sin))
    return tuple(points)


_UNIT_SHAPES = {
    "square": _polygon(4),
    "triangle": _polygon(3),
    "hexagon": _polygon(6),
    "star": _polygon(5, inner=0.5),
}
# polygons look smaller than a circle of the same radius; scale them to a similar area
_SHAPE_SCALE = {"circle": 1.0, "square": 1.2, "triangle": 1.35, "hexagon": 1.05, "star": 1.35}


@dataclass(frozen=True)
class Shape:
    """One object to draw, in canvas pixels (`x` right, `y` down)."""

    kind: str  # one of SHAPE_KINDS
    x: float  # centre
    y: float
    radius: float  # circumradius of the circle it replaces
    rotation: int  # whole degrees
    texture: str  # one of TEXTURES
    period: float  # texture period in canvas pixels
    texture_angle: int  # whole degrees
    phase: tuple[float, float]  # texture phase in periods, each in [0, 1)
    colour: tuple[float, float, float]  # primary RGB, 0-255
    colour2: tuple[float, float, float]  # secondary RGB of the texture


def hsv(hue_deg: float, saturation: float, value: float) -> tuple[float, float, float]:
    """RGB (0-255 floats) of a hue in degrees and saturation/value in [0, 1]."""
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, saturation, value)
    return (r * 255.0, g * 255.0, b * 255.0)


# stripes and dots cover the same share of an object (pi r^2 = duty), so that their mean colour
# is equal and only their structure tells them apart
_FILL = 0.35
_DOT_RADIUS_SQ = 0.111  # dot radius 0.333 periods: pi * 0.111 = 0.349


def _pattern(
    texture: str,
    xs: np.ndarray,
    ys: np.ndarray,
    period: float,
    angle: int,
    phase: tuple[float, float],
) -> np.ndarray:
    """Texture value in {0, 1} (1 = primary colour) on a grid of canvas coordinates `h x w`."""
    cos, sin = COS_SIN[angle % 360]
    u = (xs * cos + ys * sin) / period + phase[0]
    v = (ys * cos - xs * sin) / period + phase[1]
    if texture == "stripes":
        return ((u - np.floor(u)) < _FILL).astype(np.float32)
    if texture == "dots":
        fu, fv = u - np.floor(u) - 0.5, v - np.floor(v) - 0.5
        return (fu * fu + fv * fv < _DOT_RADIUS_SQ).astype(np.float32)
    if texture == "checker":
        return ((np.floor(u) + np.floor(v)) % 2 == 0).astype(np.float32)
    return np.ones(np.broadcast_shapes(xs.shape, ys.shape), np.float32)


def _mask(shape: Shape, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """Coverage mask `height x width` (0 or 1) of `shape` in the box at (`x0`, `y0`)."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    cx, cy = shape.x - x0, shape.y - y0
    radius = shape.radius * _SHAPE_SCALE[shape.kind]
    if shape.kind == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    else:
        cos, sin = COS_SIN[shape.rotation % 360]
        draw.polygon(
            [
                (cx + radius * (px * cos - py * sin), cy + radius * (px * sin + py * cos))
                for px, py in _UNIT_SHAPES[shape.kind]
            ],
            fill=255,
        )
    return np.asarray(image, dtype=np.float32) / 255.0


def draw_shape(canvas: np.ndarray, shape: Shape) -> None:
    """Paint `shape` onto `canvas` (`S x S x 3` float32) in place; parts outside are clipped."""
    size = canvas.shape[0]
    reach = shape.radius * max(_SHAPE_SCALE.values()) + 2
    x0, y0 = max(0, int(shape.x - reach)), max(0, int(shape.y - reach))
    x1, y1 = min(size, int(shape.x + reach) + 1), min(size, int(shape.y + reach) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    mask = _mask(shape, x0, y0, x1 - x0, y1 - y0)[..., None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - np.float32(shape.x)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - np.float32(shape.y)
    texture = _pattern(shape.texture, xs, ys, shape.period, shape.texture_angle, shape.phase)
    primary = np.asarray(shape.colour, np.float32)
    secondary = np.asarray(shape.colour2, np.float32)
    fill = texture[..., None] * primary + (1.0 - texture[..., None]) * secondary
    region = canvas[y0:y1, x0:x1]
    region[...] = mask * fill + (1.0 - mask) * region


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled uniform noise `size x size` in [0, 1] from a `cells + 1` square grid."""
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    pos = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(cells / size)
    i0 = np.minimum(pos.astype(np.int64), cells - 1)
    w = (pos - i0)[None, :]
    top = grid[i0][:, i0] * (1 - w) + grid[i0][:, i0 + 1] * w
    bottom = grid[i0 + 1][:, i0] * (1 - w) + grid[i0 + 1][:, i0 + 1] * w
    wy = (pos - i0)[:, None]
    return top * (1 - wy) + bottom * wy


def background(rng: np.random.Generator, size: int, texture_contrast: float) -> np.ndarray:
    """A random muted background `size x size x 3` (float32, 0-255): two colours blended by
    smooth noise, overlaid with a faint random texture (stripes, dots, checker or none).

    Args:
        rng: The image's generator.
        size: Canvas side in pixels.
        texture_contrast: Largest amplitude of the background texture, as a fraction of 255.
    """
    colours = [
        np.asarray(
            hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.85)), np.float32
        )
        for _ in range(2)
    ]
    blend = _smooth_noise(rng, size, int(rng.integers(2, 6)))[..., None]
    canvas = colours[0] * blend + colours[1] * (1.0 - blend)
    kind = TEXTURES[int(rng.integers(0, 4))]  # "solid" = no texture
    if kind != "solid":
        coords = np.arange(size, dtype=np.float32) + 0.5
        period = size * rng.uniform(0.03, 0.09)
        phase = (rng.random(), rng.random())
        texture = _pattern(
            kind, coords[None, :], coords[:, None], period, int(rng.integers(0, 180)), phase
        )
        amplitude = 255.0 * rng.uniform(0.0, texture_contrast)
        canvas = canvas + (texture[..., None] - 0.5) * np.float32(amplitude)
    return canvas.astype(np.float32)


def downsample(canvas: np.ndarray, rng: np.random.Generator, noise: int) -> np.ndarray:
    """2x2 box-downsample `canvas` (`2H x 2W x 3`), add uniform integer noise in [-noise, noise],
    and return `H x W x 3` uint8."""
    half = canvas[0::2, 0::2] + canvas[1::2, 0::2] + canvas[0::2, 1::2] + canvas[1::2, 1::2]
    image = half * np.float32(0.25)
    if noise > 0:
        image = image + rng.integers(-noise, noise + 1, size=image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
