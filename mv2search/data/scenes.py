"""Scenes of the embedded data set: which objects a class draws, where, and with what colours.

Ten classes (`CLASSES`). The global structure is the arrangement of the 2-4 main objects: a
vertical pair, a horizontal pair, a column or a row of three, a triangle of three, a square of
four. Relational cues split some arrangements further, each graded (drawn from a continuous
range, so that some images are easy and some hard and accuracy rises with capacity and training
rather than at one wall):

- the vertical pair by COLOUR relation: both objects from one hue family, warm above cool, or
  cool above warm;
- the triangle by HUE: all three from one family, or one of them (any) turned away from the
  others' hue by 40-110 degrees (`Nuisance.odd_hue`; the others keep the +-12 degree jitter, so
  the smallest offsets are hard);
- the square by SIZE: four objects of one kind and one size (+-4 %), or one of them (any)
  smaller by a factor of 1.25-1.8 (`Nuisance.odd_scale`).

Texture (stripes or dots at any angle, solid) is a nuisance of every class: version 2 split the
triangle and the square by stripes vs dots, a cue that no MobileViT learned at 40-64 px in 4,000
steps (README, "Multi-fidelity search"), which capped every spec at 0.80 and let none rank.

Nuisances: background colour, smooth shading and a faint stripe/dot/checker texture; object kind
(circle, square, triangle, hexagon, star, per object; one kind per square scene), size, rotation,
texture, its period, angle and phase, hue within the family, saturation and value; layout
spacing, position and tilt; 0..2 smaller distractor shapes (solid or checker, any colour);
brightness and pixel noise.

Every class is invariant under a horizontal flip (each layout is its own mirror image, "above" is
vertical, the odd object is any one, and the texture angles and object rotations are drawn from
mirror-symmetric sets) and under small translations and scalings (main objects keep a margin
from the border).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mv2search.data._render import (
    COS_SIN,
    SHAPE_KINDS,
    Shape,
    background,
    downsample,
    draw_shape,
    hsv,
)

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "LAYOUTS",
    "Nuisance",
    "NUISANCE",
    "SceneClass",
    "render_scene",
]


@dataclass(frozen=True)
class SceneClass:
    """What defines one class: the arrangement of its main objects, their texture and colours."""

    name: str
    arrangement: str  # a key of LAYOUTS
    colours: str  # "same" (one family), "warm_above_cool", "cool_above_warm" or "odd" (one off)
    sizes: str = "jitter"  # "jitter" (+-15 %, any kinds), "equal" (one kind, +-4 %) or "odd"


CLASSES = (
    SceneClass("pair_same", "pair", "same"),  # two objects, one above the other
    SceneClass("warm_above_cool", "pair", "warm_above_cool"),
    SceneClass("cool_above_warm", "pair", "cool_above_warm"),
    SceneClass("column", "column", "same"),  # three objects, one above the other
    SceneClass("side_by_side", "hpair", "same"),  # two objects next to each other
    SceneClass("row", "row", "same"),  # three objects in a horizontal row
    SceneClass("triangle_same", "triangle", "same"),
    SceneClass("triangle_odd_hue", "triangle", "odd"),  # one of the three in another hue
    SceneClass("square_same", "square", "same", "equal"),  # four at a square's corners
    SceneClass("square_odd_size", "square", "same", "odd"),  # one of the four smaller
)
CLASS_NAMES = tuple(c.name for c in CLASSES)
# offsets in units of the layout spacing, listed top first; the triangle's apex points up
# (flipped half the time). Every layout is its own mirror image.
LAYOUTS = {
    "pair": ((0.0, -0.5), (0.0, 0.5)),
    "hpair": ((-0.5, 0.0), (0.5, 0.0)),
    "row": ((-1.0, 0.0), (0.0, 0.0), (1.0, 0.0)),
    "column": ((0.0, -1.0), (0.0, 0.0), (0.0, 1.0)),
    "triangle": ((0.0, -0.57735), (-0.5, 0.288675), (0.5, 0.288675)),
    "square": ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)),
}
WARM_HUES = (0.0, 30.0, 55.0)  # red, orange, yellow (degrees)
COOL_HUES = (125.0, 175.0, 220.0, 275.0)  # green, teal, blue, violet


@dataclass(frozen=True)
class Nuisance:
    """Strength of the nuisance variation (part of the cache key). Sizes are fractions of the
    image side."""

    radius: tuple[float, float] = (0.085, 0.11)  # main-object radius
    spacing: tuple[float, float] = (2.3, 2.9)  # layout spacing, in main-object radii
    position_jitter: float = 0.12  # per-object offset, in layout spacings
    tilt_deg: int = 10  # layout rotation, +- whole degrees
    margin: float = 0.1  # main objects keep this far from the border
    hue_jitter: float = 12.0  # +- degrees around the hue family
    distractors: int = 2  # 0..distractors smaller shapes
    distractor_scale: tuple[float, float] = (0.35, 0.6)  # of the main radius
    texture_period: tuple[float, float] = (0.7, 1.0)  # object texture period, in its radius
    odd_hue: tuple[float, float] = (40.0, 110.0)  # the odd object's hue offset, degrees
    odd_scale: tuple[float, float] = (1.25, 1.8)  # the odd object is this many times smaller
    background_texture: float = 0.15  # largest background texture amplitude (fraction of 255)
    noise: int = 8  # largest uniform pixel noise (0-255 scale)


NUISANCE = Nuisance()


def _colours(rule: str, count: int, rng: np.random.Generator, nuisance: Nuisance) -> list[float]:
    """Hue (degrees) of each main object, in layout order (top first)."""
    jitter = nuisance.hue_jitter
    if rule in ("warm_above_cool", "cool_above_warm"):
        warm = WARM_HUES[rng.integers(len(WARM_HUES))]
        cool = COOL_HUES[rng.integers(len(COOL_HUES))]
        families = [warm, cool] if rule == "warm_above_cool" else [cool, warm]
    else:
        hues = WARM_HUES + COOL_HUES
        families = [hues[rng.integers(len(hues))]] * count
    out = [h + rng.uniform(-jitter, jitter) for h in families]
    if rule == "odd":
        odd = int(rng.integers(count))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out[odd] = families[odd] + sign * rng.uniform(*nuisance.odd_hue)
    return out


def _scales(rule: str, count: int, rng: np.random.Generator, nuisance: Nuisance) -> list[float]:
    """Size factor of each main object (of the layout's radius)."""
    if rule == "jitter":
        return [rng.uniform(0.85, 1.15) for _ in range(count)]
    out = [rng.uniform(0.96, 1.04) for _ in range(count)]
    if rule == "odd":  # smaller, not larger: a larger one could touch its neighbours
        out[int(rng.integers(count))] = 1.0 / rng.uniform(*nuisance.odd_scale)
    return out


def _layout(
    arrangement: str, rng: np.random.Generator, nuisance: Nuisance
) -> tuple[np.ndarray, float]:
    """Main-object centres `k x 2` in image fractions (rows sorted top first) and the radius."""
    radius = rng.uniform(*nuisance.radius)
    spacing = radius * rng.uniform(*nuisance.spacing)
    offsets = np.array(LAYOUTS[arrangement])
    if arrangement == "triangle" and rng.random() < 0.5:
        offsets[:, 1] *= -1.0
    cos, sin = COS_SIN[int(rng.integers(-nuisance.tilt_deg, nuisance.tilt_deg + 1)) % 360]
    # element-wise, not a matmul: BLAS may fuse multiply-adds differently on another CPU
    offsets = np.stack(
        [offsets[:, 0] * cos - offsets[:, 1] * sin, offsets[:, 0] * sin + offsets[:, 1] * cos],
        axis=1,
    )
    offsets = offsets + rng.uniform(-1, 1, offsets.shape) * nuisance.position_jitter
    points = offsets * spacing
    reach = radius * 1.55  # largest object: 1.15 (size jitter) x 1.35 (triangle/star scale)
    low, high = points.min(0) - reach, points.max(0) + reach
    room = (1 - 2 * nuisance.margin) - (high - low)
    if np.any(room < 0):  # too wide for the margins: shrink the whole layout
        shrink = (1 - 2 * nuisance.margin) / (high - low).max()
        points, radius, low, room = points * shrink, radius * shrink, low * shrink, room * 0
    room = np.maximum(room, 0)
    start = nuisance.margin + rng.random(2) * room
    return points - low + start, radius


def _distractors(
    centres: np.ndarray, radius: float, rng: np.random.Generator, nuisance: Nuisance
) -> list[tuple[float, float, float]]:
    """Up to `nuisance.distractors` (x, y, r) that overlap neither main objects nor each other."""
    placed: list[tuple[float, float, float]] = []
    blockers = [(x, y, radius * 1.25) for x, y in centres]
    for _ in range(int(rng.integers(0, nuisance.distractors + 1))):
        r = radius * rng.uniform(*nuisance.distractor_scale)
        for _attempt in range(20):
            x, y = rng.uniform(0.04, 0.96, 2)
            if all(
                (x - bx) ** 2 + (y - by) ** 2 > (br + r * 1.3 + 0.01) ** 2
                for bx, by, br in blockers
            ):
                placed.append((x, y, r))
                blockers.append((x, y, r))
                break
    return placed


def _shape(
    rng: np.random.Generator,
    canvas: int,
    x: float,
    y: float,
    radius: float,
    texture: str,
    colour: tuple[float, float, float],
    nuisance: Nuisance,
    kind: str | None = None,
) -> Shape:
    """A shape of `kind` (None: a random one) with random rotation and texture geometry at
    (`x`, `y`) (image fractions)."""
    r = radius * canvas
    darken = rng.uniform(0.2, 0.45)
    return Shape(
        kind=SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))] if kind is None else kind,
        x=x * canvas,
        y=y * canvas,
        radius=r,
        rotation=int(rng.integers(0, 360)),
        texture=texture,
        period=max(5.0, r * rng.uniform(*nuisance.texture_period)),  # >= 2.5 output pixels
        texture_angle=int(rng.integers(0, 180)),
        phase=(rng.random(), rng.random()),
        colour=colour,
        colour2=(colour[0] * darken, colour[1] * darken, colour[2] * darken),
    )


def render_scene(
    label: int, image_size: int, rng: np.random.Generator, nuisance: Nuisance = NUISANCE
) -> np.ndarray:
    """Draw one image of class `label` (`image_size x image_size x 3` uint8) from `rng`.

    Args:
        label: Class index in `[0, 10)` (see `CLASS_NAMES`).
        image_size: Output side in pixels; drawing happens at twice this size.
        rng: The image's own generator (all randomness comes from it, in a fixed order).
        nuisance: Strength of the nuisance variation.

    Returns:
        The image, `H x W x 3` uint8.
    """
    canvas_size = 2 * image_size
    canvas = background(rng, canvas_size, nuisance.background_texture)
    scene = CLASSES[label]
    centres, radius = _layout(scene.arrangement, rng, nuisance)
    hues = _colours(scene.colours, len(centres), rng, nuisance)
    scales = _scales(scene.sizes, len(centres), rng, nuisance)
    kind = SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))] if scene.sizes != "jitter" else None
    for (x, y), hue, scale in zip(centres, hues, scales, strict=True):
        colour = hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
        texture = ("stripes", "dots", "solid")[rng.integers(3)]
        shape = _shape(rng, canvas_size, x, y, radius * scale, texture, colour, nuisance, kind)
        draw_shape(canvas, shape)
    for x, y, r in _distractors(centres, radius, rng, nuisance):
        colour = hsv(rng.uniform(0, 360), rng.uniform(0.3, 1.0), rng.uniform(0.4, 1.0))
        fill = ("solid", "checker")[rng.integers(2)]
        draw_shape(canvas, _shape(rng, canvas_size, x, y, r, fill, colour, nuisance))
    canvas *= np.float32(rng.uniform(0.85, 1.15))
    return downsample(canvas, rng, int(rng.integers(0, nuisance.noise + 1)))
