"""The factor grid of a scaling space: every grid point, its exact MACs, and one-step moves.

A scaling space (`search_spaces/mv2_global.yaml`) has only numeric parameters on a grid: resolution
`image_size` (r), `width_multiplier` (w), and the depth multipliers of `ir_depths` (d_i) and
`attn_blocks` (d_m). A point is its raw coordinates `x` (`d`), the same as `SearchSpace.encode`;
its MACs are exact: `count_macs(space.decode(x))`.
"""

from __future__ import annotations

import functools
import itertools

import torch

from mv2search.arch.spec import ArchSpec
from mv2search.cost import count_macs
from mv2search.search.space import SearchSpace

__all__ = ["FACTOR_LABELS", "FactorGrid", "check_factor_space", "factor_label"]

# The paper's symbols of the four global factors.
FACTOR_LABELS = {
    "image_size": "r",
    "width_multiplier": "w",
    "ir_depths": "d_i",
    "attn_blocks": "d_m",
}


def factor_label(name: str) -> str:
    """The paper's symbol of a factor (`image_size` -> `r`), or the name itself."""
    return FACTOR_LABELS.get(name, name)


def check_factor_space(space: SearchSpace) -> None:
    """Check that every parameter of `space` is a numeric factor on a grid, without log scale.

    Raises:
        ValueError: naming the first parameter that is not.
    """
    for p in space.parameters:
        if p.type == "choice" or p.num_points is None or p.log:
            raise ValueError(
                f"space {space.name!r}: parameter {p.name!r} is not a numeric factor on a grid "
                f"({p.describe()}); the scaling study needs int/float parameters with a step"
            )


class FactorGrid:
    """Every grid point of a scaling space, with exact GMACs (cached per point).

    Args:
        space: A space that passes `check_factor_space`.

    Raises:
        ValueError: from `check_factor_space`.
    """

    def __init__(self, space: SearchSpace) -> None:
        check_factor_space(space)
        self.space = space
        self.values = [tuple(float(v) for v in p.grid() or ()) for p in space.parameters]
        levels = list(itertools.product(*(range(len(v)) for v in self.values)))
        self.levels = torch.tensor(levels, dtype=torch.long)  # g x d grid indices
        self.X = self.point(self.levels)  # g x d raw coordinates
        self.gmacs = torch.tensor([self.gmacs_of(x) for x in self.X], dtype=torch.float64)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in coordinate order."""
        return self.space.names

    def point(self, levels: torch.Tensor) -> torch.Tensor:
        """Raw coordinates (`... x d`) of grid indices (`... x d`)."""
        columns = [
            torch.tensor(v, dtype=torch.float64)[levels[..., j]] for j, v in enumerate(self.values)
        ]
        return torch.stack(columns, dim=-1)

    def level(self, x: torch.Tensor) -> torch.Tensor:
        """Grid indices (`d`) of a grid point `x` (`d`)."""
        snapped = self.space.snap(x)
        return torch.tensor(
            [v.index(float(c)) for v, c in zip(self.values, snapped.tolist(), strict=True)]
        )

    def spec(self, x: torch.Tensor) -> ArchSpec:
        """The spec of a point (`d`)."""
        return self.space.decode(x)  # type: ignore[return-value]

    def gmacs_of(self, x: torch.Tensor) -> float:
        """Exact giga-MACs of the spec of point `x` (`d`)."""
        return _gmacs(self.space, tuple(round(float(v), 9) for v in x.reshape(-1)))

    def steps_down(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """Every point one grid step down in one factor: `(factor index, point)` pairs."""
        level = self.level(x)
        moves = []
        for j in range(len(self.values)):
            if level[j] > 0:
                lower = level.clone()
                lower[j] -= 1
                moves.append((j, self.point(lower)))
        return moves


@functools.lru_cache(maxsize=65536)
def _gmacs(space: SearchSpace, key: tuple[float, ...]) -> float:
    return count_macs(space.decode(torch.tensor(key, dtype=torch.float64))) / 1e9
