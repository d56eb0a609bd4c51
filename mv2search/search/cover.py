"""Specs that together contain every distinct block a search space can produce (for `build-lut`).

A block's latency key depends on the widths, the resolution, the FFN multiplier, the stage's
attention type and the other non-depth factors, but not on how often the block repeats: a stage of
depth 3 has the same blocks as one of depth 2. So the cover takes every grid value of each
non-depth parameter, the largest value of each depth parameter, and the attention types of all
stages together (a stage's blocks depend only on its own type). One exception: whether a stage has
attention at all changes the input size of every later block (a v2 MobileViT block resizes a map
whose side is not a multiple of the patch), so attention depths take their largest and smallest
values.
"""

from __future__ import annotations

import itertools

import torch

from mv2search.arch.spec import ArchSpec
from mv2search.search.space import SearchSpace

__all__ = ["covering_specs"]

_DEPTH_FIELDS = ("ir_depths", "attn_blocks")


def covering_specs(space: SearchSpace) -> list[ArchSpec]:
    """A small set of specs whose blocks are all the blocks `space` can produce.

    Args:
        space: A search space whose parameters are all on a grid.

    Returns:
        Distinct specs (by signature).

    Raises:
        ValueError: for a continuous parameter (no finite set of blocks), naming it.
    """
    axes: list[list[tuple[int, float]]] = []  # each axis: alternatives of (coordinate, value)
    tied: list[int] = []
    for index, parameter in enumerate(space.parameters):
        grid = parameter.grid()
        if grid is None:
            raise ValueError(f"parameter {parameter.name!r}: continuous; a LUT needs a grid")
        if parameter.field == "attn_types":
            tied.append(index)
        elif parameter.field == "attn_blocks":
            extremes = sorted({min(grid), max(grid)})
            axes.append([(index, parameter.encode_value(value)) for value in extremes])
        elif parameter.scale or parameter.field in _DEPTH_FIELDS:
            axes.append([(index, parameter.encode_value(max(grid)))])
        else:
            axes.append([(index, parameter.encode_value(value)) for value in grid])
    if tied:  # the k-th type of every stage together (stages may offer different types)
        grids = {i: space.parameters[i].grid() for i in tied}
        longest = max(len(grid) for grid in grids.values())
        axes.append(
            [
                tuple(
                    (i, space.parameters[i].encode_value(g[min(k, len(g) - 1)]))
                    for i, g in grids.items()
                )
                for k in range(longest)
            ]
        )
    specs: dict[str, ArchSpec] = {}
    for combination in itertools.product(*axes):
        x = torch.zeros(space.dim, dtype=torch.float64)
        for item in combination:
            for index, coordinate in item if isinstance(item[0], tuple) else [item]:
                x[index] = coordinate
        spec = space.decode(x)
        specs.setdefault(spec.signature, spec)
    return list(specs.values())
