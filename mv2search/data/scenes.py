"""Scenes of the embedded data set: which objects a class draws, where, and with what texture.

Ten classes (`CLASSES`). The global structure is the arrangement of the 2-4 main objects: a
vertical pair, a horizontal pair, a column or a row of three, a triangle of three, a square of
four. Local cues split some arrangements further: the vertical pair by COLOUR relation (both
objects from one hue family, warm above cool, or cool above warm) and the triangle and the square
by the objects' TEXTURE (stripes at any angle vs dots). All other classes draw one random texture
and one hue family for all their main objects.

Nuisances: background colour, smooth shading and a faint stripe/dot/checker texture; object kind
(circle, square, triangle, hexagon, star, per object), size, rotation, texture period, angle and
phase, hue within the family, saturation and value; layout spacing, position and tilt; 0..2
smaller distractor shapes (solid or checker, any colour); brightness and pixel noise.

Every class is invariant under a horizontal flip (each layout is its own mirror image, "above" is
vertical, and the texture angles and object rotations are drawn from mirror-symmetric sets) and
under small translations and scalings (main objects keep a margin from the border).

What a small network learns first (`benchmarks/bench_difficulty.py`, mobilevitv2_050 at 64 px):
the arrangement within a few hundred steps, then the colour relation; the texture classes are the
slowest, which leaves head-room above the budgeted accuracy.
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
    texture: str  # "stripes" (at any angle), "dots", or "any" (either, shared by the objects)
    colours: str  # "same" (one hue family), "warm_above_cool" or "cool_above_warm"


CLASSES = (
    SceneClass("pair_same", "pair", "any", "same"),  # two objects, one above the other
    SceneClass("warm_above_cool", "pair", "any", "warm_above_cool"),
    SceneClass("cool_above_warm", "pair", "any", "cool_above_warm"),
    SceneClass("column", "column", "any", "same"),  # three objects, one above the other
    SceneClass("side_by_side", "hpair", "any", "same"),  # two objects next to each other
    SceneClass("row", "row", "any", "same"),  # three objects in a horizontal row
    SceneClass("triangle_stripes", "triangle", "stripes", "same"),  # stripes at any angle
    SceneClass("triangle_dots", "triangle", "dots", "same"),
    SceneClass("square_stripes", "square", "stripes", "same"),  # four at a square's corners
    SceneClass("square_dots", "square", "dots", "same"),
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
    background_texture: float = 0.15  # largest background texture amplitude (fraction of 255)
    noise: int = 8  # largest uniform pixel noise (0-255 scale)


NUISANCE = Nuisance()


def _colours(rule: str, count: int, rng: np.random.Generator, jitter: float) -> list[float]:
    """Hue (degrees) of each main object, in layout order (top first)."""
    if rule != "same":
        warm = WARM_HUES[rng.integers(len(WARM_HUES))]
        cool = COOL_HUES[rng.integers(len(COOL_HUES))]
        families = [warm, cool] if rule == "warm_above_cool" else [cool, warm]
    else:
        hues = WARM_HUES + COOL_HUES
        families = [hues[rng.integers(len(hues))]] * count
    return [h + rng.uniform(-jitter, jitter) for h in families]


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
    period: tuple[float, float],
) -> Shape:
    """A shape of random kind, rotation and texture geometry at (`x`, `y`) (image fractions)."""
    r = radius * canvas
    darken = rng.uniform(0.2, 0.45)
    return Shape(
        kind=SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))],
        x=x * canvas,
        y=y * canvas,
        radius=r,
        rotation=int(rng.integers(0, 360)),
        texture=texture,
        period=max(5.0, r * rng.uniform(*period)),  # >= 2.5 output pixels
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
    hues = _colours(scene.colours, len(centres), rng, nuisance.hue_jitter)
    texture = scene.texture
    if texture == "any":
        texture = ("stripes", "dots")[rng.integers(2)]
    for (x, y), hue in zip(centres, hues, strict=True):
        scale = rng.uniform(0.85, 1.15)
        colour = hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
        draw_shape(
            canvas,
            _shape(
                rng, canvas_size, x, y, radius * scale, texture, colour, nuisance.texture_period
            ),
        )
    for x, y, r in _distractors(centres, radius, rng, nuisance):
        colour = hsv(rng.uniform(0, 360), rng.uniform(0.3, 1.0), rng.uniform(0.4, 1.0))
        kind = ("solid", "checker")[rng.integers(2)]
        draw_shape(canvas, _shape(rng, canvas_size, x, y, r, kind, colour, nuisance.texture_period))
    canvas *= np.float32(rng.uniform(0.85, 1.15))
    return downsample(canvas, rng, int(rng.integers(0, nuisance.noise + 1)))
