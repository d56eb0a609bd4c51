"""Subnets of a search space within a budget: seeded random draws, the largest and the smallest.

The space is read through `SpaceLike` (`bounds`, `parameters`, `decode`), so this layer does not
import `mv2search.search`. Each coordinate `j` is walked on its grid of encoded values
`g_j = (encode_value(v) for v in parameters[j].grid())`; a continuous coordinate (no grid) on
`CONTINUOUS_POINTS` equally spaced values of its bounds. A numeric coordinate (int/float) is taken
to grow the subnet with its value, as in every space file of this project; a `choice` coordinate
(attention type, FFN multiplier) is unordered, and `size` (MACs by default) ranks its values.

- Random subnet: every coordinate drawn uniformly from its grid by the sampler's own
  `torch.Generator`, decoded, and kept if `feasible`; else drawn again, `max_tries` times at most
  (then ValueError). The generator's state is `state_dict()`, so a resumed run draws on.
- Smallest: every numeric coordinate at its lowest value, each choice (in coordinate order, the
  others fixed) at its value of least `size`. Not feasible: ValueError (no subnet is).
- Largest: the space's largest spec `top` (every numeric coordinate at its highest value, each
  choice at its value of most `size`) when feasible. Otherwise `top` scaled down evenly, then
  grown back to the budget: every numeric coordinate at `floor(t x (points - 1))` for the largest
  `t` in [0, 1] that is feasible (choices kept), then, while some single numeric coordinate can
  step up and stay feasible, the feasible step of most `size` (ties: the first coordinate). The
  result is maximal (no single step up is feasible), though not necessarily the feasible spec of
  most `size`, and it keeps the largest's proportions better than a descent that spends the
  budget on one dimension (measured on `mv2` at 2 GMACs: alpha 1.25, 192 px, 2 attention layers
  per stage, rather than alpha 1.75 at 224 px without attention). If not even `t = 0` is
  feasible with `top`'s choices, choices change too: from there, single moves (a numeric
  coordinate one step down, a choice to another value) that lower `size` least, until feasible;
  then the growth step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mv2search.arch import ArchSpec
from mv2search.cost import count_macs, count_params
from mv2search.supernet.bounds import SpaceLike

__all__ = ["CONTINUOUS_POINTS", "Feasibility", "SubnetSampler", "attention_free_twin"]

CONTINUOUS_POINTS = 9  # grid of a coordinate without one (every space file here has grids)


def attention_free_twin(spec: ArchSpec) -> ArchSpec:
    """`spec` with no attention layer (every stage 0 blocks, type `none`): its width, resolution,
    IR depths and FFN multiplier kept. Cheaper than `spec` in MACs and parameters, so within any
    budget that `spec` meets."""
    stages = len(spec.attn_blocks)
    return spec.replace(attn_blocks=(0,) * stages, attn_types=("none",) * stages, name="")


@dataclass(frozen=True)
class Feasibility:
    """A feasibility predicate with a stable description (the description keys cached runs)."""

    # `spec -> True` when the subnet may be trained (e.g. exact MACs within the budget).
    check: Callable[[ArchSpec], bool]
    # What `check` is, for the cache key: two predicates with one identity must agree.
    identity: str

    def __call__(self, spec: ArchSpec) -> bool:
        """Whether `spec` is feasible."""
        return bool(self.check(spec))

    @classmethod
    def budget(
        cls, max_gmacs: float | None = None, max_mparams: float | None = None
    ) -> Feasibility:
        """Exact-metric budgets as the search has them (`mv2search.study.objectives`): giga-MACs
        at the spec's own resolution and millions of parameters, each inclusive.

        Args:
            max_gmacs: Most `count_macs(spec) / 1e9` (None: no MACs budget).
            max_mparams: Most `count_params(spec) / 1e6` (None: no parameter budget).

        Returns:
            The predicate; with neither budget every spec is feasible.

        Raises:
            ValueError: naming a budget that is not a positive number.
        """
        for name, value in (("max_gmacs", max_gmacs), ("max_mparams", max_mparams)):
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name}={value!r}; allowed: a number > 0 or None")

        def check(spec: ArchSpec) -> bool:
            if max_gmacs is not None and count_macs(spec) / 1e9 > max_gmacs:
                return False
            return max_mparams is None or count_params(spec) / 1e6 <= max_mparams

        return cls(check, f"gmacs<={max_gmacs!r},mparams<={max_mparams!r}")


class SubnetSampler:
    """Feasible subnets of a space (see the module docstring).

    Args:
        space: A `mv2search.search.space.SearchSpace` or anything `SpaceLike`.
        feasible: `spec -> bool`, e.g. `Feasibility.budget(max_gmacs=2.0)`.
        seed: Seeds the random draws (the same seed draws the same subnets).
        max_tries: Draws per random subnet before `sample` gives up.
        size: Ranks choice values and guides the descent to the largest (default MACs).

    Raises:
        ValueError: for `max_tries` < 1, or naming `feasible` when not even the smallest subnet
            is feasible.
    """

    def __init__(
        self,
        space: SpaceLike,
        feasible: Callable[[ArchSpec], bool],
        *,
        seed: int = 0,
        max_tries: int = 1000,
        size: Callable[[ArchSpec], float] = count_macs,
    ) -> None:
        if not isinstance(max_tries, int) or max_tries < 1:
            raise ValueError(f"max_tries={max_tries!r}; allowed: an integer >= 1")
        self.space, self.feasible, self.max_tries, self.size = space, feasible, max_tries, size
        self.grids = _grids(space)
        self._choice = [getattr(p, "type", None) == "choice" for p in space.parameters]
        self.generator = torch.Generator().manual_seed(int(seed))
        self.smallest = self._smallest()
        self.largest = self._largest()
        # the space's largest spec, feasible or not (a teacher that trains every weight)
        self.top = self._decode(self._choose([len(g) - 1 for g in self.grids], largest=True))

    # ------------------------------------------------------------------------------ random draws
    def sample(self, n: int) -> list[ArchSpec]:
        """`n` random feasible subnets (duplicates possible), advancing the generator.

        Args:
            n: How many.

        Returns:
            The specs.

        Raises:
            ValueError: naming `max_tries` when a subnet found no feasible draw.
        """
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n={n!r}; allowed: an integer >= 0")
        return [self._draw() for _ in range(n)]

    def _draw(self) -> ArchSpec:
        for _ in range(self.max_tries):
            index = [int(torch.randint(len(g), (), generator=self.generator)) for g in self.grids]
            spec = self._decode(index)
            if self.feasible(spec):
                return spec
        raise ValueError(
            f"max_tries={self.max_tries}: no feasible subnet in {self.max_tries} random draws "
            f"under {_describe(self.feasible)}; raise max_tries or relax the budget"
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The random state (`{"generator": uint8 tensor}`), for checkpoints."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a state from `state_dict()`: the next draws continue where it left off."""
        self.generator.set_state(state["generator"])

    # ------------------------------------------------------------------------------ extremes
    @property
    def max_image_size(self) -> int:
        """The largest `image_size` any subnet of the space has (the data set's resolution)."""
        top = [len(g) - 1 if not c else 0 for g, c in zip(self.grids, self._choice, strict=True)]
        sizes = [self._decode(top).image_size, self.largest.image_size, self.top.image_size]
        for j, grid in enumerate(self.grids):  # a coordinate may set image_size (any order)
            for k in range(len(grid)):
                sizes.append(self._decode([*top[:j], k, *top[j + 1 :]]).image_size)
        return max(sizes)

    def _smallest(self) -> ArchSpec:
        index = self._choose([0] * len(self.grids), largest=False)
        spec = self._decode(index)
        if not self.feasible(spec):
            raise ValueError(
                f"feasible: even the smallest subnet of the space ({_short(spec)}, size "
                f"{self.size(spec):.6g}) is infeasible under {_describe(self.feasible)}; "
                "relax the budget"
            )
        return spec

    def _largest(self) -> ArchSpec:
        top = self._choose([len(g) - 1 for g in self.grids], largest=True)  # = self.top
        if self.feasible(self._decode(top)):
            return self._decode(top)
        index = self._scaled_down(top)
        if index is None:  # the choices must change too
            index = self._descend(self._scaled(top, 0.0))
        return self._decode(self._ascend(index))

    def _scaled(self, top: Sequence[int], t: float) -> list[int]:
        """Every numeric coordinate at `floor(t x (points - 1))`, the choices as in `top`."""
        return [
            k if is_choice else math.floor(t * (len(grid) - 1) + 1e-9)
            for k, grid, is_choice in zip(top, self.grids, self._choice, strict=True)
        ]

    def _scaled_down(self, top: Sequence[int]) -> list[int] | None:
        """The feasible `_scaled(top, t)` of largest `t` (None: not even at `t = 0`)."""
        steps = {0.0} | {
            k / (len(grid) - 1)
            for grid, is_choice in zip(self.grids, self._choice, strict=True)
            if not is_choice and len(grid) > 1
            for k in range(len(grid))
        }
        for t in sorted(steps, reverse=True):
            index = self._scaled(top, t)
            if self.feasible(self._decode(index)):
                return index
        return None

    def _ascend(self, index: list[int]) -> list[int]:
        """Step numeric coordinates up, the feasible step of most `size` first, while any is."""
        while True:
            ups = [
                [*index[:j], index[j] + 1, *index[j + 1 :]]
                for j, (grid, is_choice) in enumerate(zip(self.grids, self._choice, strict=True))
                if not is_choice and index[j] + 1 < len(grid)
            ]
            specs = [(self._decode(up), up) for up in ups]
            scored = [(self.size(spec), up) for spec, up in specs if self.feasible(spec)]
            if not scored:
                return index
            index = max(scored, key=lambda item: item[0])[1]  # the first of the ties

    def _descend(self, index: list[int]) -> list[int]:
        """Single moves that lower `size` least, until feasible (choices may change)."""
        spec = self._decode(index)
        while not self.feasible(spec):
            current = self.size(spec)
            scored = [(self.size(self._decode(m)), m) for m in self._moves(index)]
            scored = [(value, m) for value, m in scored if value < current]
            if not scored:  # unreachable when the smallest is feasible and sizes are monotone
                raise ValueError(
                    f"feasible: the descent from the largest subnet stopped at {_short(spec)} "
                    f"without a feasible spec under {_describe(self.feasible)}"
                )
            index = max(scored, key=lambda item: item[0])[1]  # the first of the ties
            spec = self._decode(index)
        return index

    def _choose(self, index: list[int], *, largest: bool) -> list[int]:
        """Set each choice coordinate, in order, to its value of most (least) `size`."""
        index = list(index)
        for j, is_choice in enumerate(self._choice):
            if is_choice:
                sizes = [
                    self.size(self._decode([*index[:j], k, *index[j + 1 :]]))
                    for k in range(len(self.grids[j]))
                ]
                best = max(sizes) if largest else min(sizes)
                index[j] = sizes.index(best)
        return index

    def _moves(self, index: Sequence[int]) -> list[list[int]]:
        """Single-coordinate changes: a numeric one step down, a choice to any other value."""
        moves = []
        for j, (k, grid) in enumerate(zip(index, self.grids, strict=True)):
            targets = [v for v in range(len(grid)) if v != k] if self._choice[j] else [k - 1]
            moves += [[*index[:j], v, *index[j + 1 :]] for v in targets if v >= 0]
        return moves

    def _decode(self, index: Sequence[int]) -> ArchSpec:
        x = torch.tensor([g[k] for g, k in zip(self.grids, index, strict=True)])
        return self.space.decode(x.to(torch.float64))  # type: ignore[return-value]


def _grids(space: SpaceLike) -> list[list[float]]:
    """Each coordinate's encoded grid values, in increasing order."""
    box = space.bounds.to(torch.float64)
    grids = []
    for j, parameter in enumerate(space.parameters):
        values = parameter.grid()
        if values is None:
            grids.append(torch.linspace(box[0, j], box[1, j], CONTINUOUS_POINTS).tolist())
        else:
            grids.append(sorted(float(parameter.encode_value(v)) for v in values))
    return grids


def _describe(feasible: Any) -> str:
    return getattr(feasible, "identity", None) or repr(feasible)


def _short(spec: ArchSpec) -> str:
    return (
        f"width {spec.width_multiplier:g}, {spec.image_size} px, ir_depths {list(spec.ir_depths)}, "
        f"attn_blocks {list(spec.attn_blocks)}"
    )
