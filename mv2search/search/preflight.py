"""Checks a search makes before its study exists: everything that can be refused without
training is refused first, so a bad input never leaves a study that then blocks the fix.

- `check_budgets`: every budget must admit the cheapest spec of the space. The cheapest spec is
  found on the space's grid with the exact counters (`exact_metrics`): by enumeration when the
  grid has at most `ENUMERATE` points, otherwise by coordinate descent from every numeric
  parameter's lowest value, sweeping each parameter over its whole grid until no sweep lowers
  the cost. The counters are sums of per-block terms that grow with width, resolution, depth,
  attention layers and FFN width, and each stage's attention type enters only its own stage's
  term, so the descent reaches the grid's minimum on MobileViTv2 spaces (tested against
  enumeration on spaces small enough to enumerate).
- `check_device`: the latency profile and the training device exist on this machine.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.search.space import SearchSpace
from mv2search.study.objectives import Objectives, exact_metrics

__all__ = ["ENUMERATE", "check_budgets", "check_device", "cheapest"]

ENUMERATE = 4096  # grids up to this size are enumerated


def _coordinates(parameter: Any) -> list[float]:
    """The encoded values of one parameter, lowest raw value first (a continuous float: its
    two bounds)."""
    if parameter.type == "choice":
        return [float(i) for i in range(len(parameter.values))]
    grid = parameter.grid() or parameter.bounds
    return [math.log(v) if parameter.log else float(v) for v in grid]


def cheapest(
    space: SearchSpace, metric: str, enumerate_up_to: int = ENUMERATE
) -> tuple[ArchSpec, float]:
    """The spec of `space` with the lowest exact `metric`, and that value.

    Args:
        space: The search space.
        metric: An exact metric (`gmacs`, `mparams`).
        enumerate_up_to: Grids with at most this many points are enumerated (see the module
            docstring for larger ones).

    Returns:
        `(spec, value)`.
    """
    axes = [_coordinates(p) for p in space.parameters]

    def cost(point: tuple[float, ...]) -> tuple[float, ArchSpec]:
        spec = space.decode(torch.tensor(point, dtype=torch.float64))
        return exact_metrics(spec, (metric,))[metric], spec

    if math.prod(len(axis) for axis in axes) <= enumerate_up_to:
        best = min((cost(point) + (point,) for point in itertools.product(*axes)), key=_key)
        return best[1], best[0]
    point = [axis[0] for axis in axes]
    value, spec = cost(tuple(point))
    improved = True
    while improved:
        improved = False
        for i, axis in enumerate(axes):
            for candidate in axis:
                trial = (*point[:i], candidate, *point[i + 1 :])
                trial_value, trial_spec = cost(trial)
                if trial_value < value:
                    point, value, spec, improved = list(trial), trial_value, trial_spec, True
    return spec, value


def _key(item: tuple[float, ArchSpec, tuple[float, ...]]) -> tuple[float, tuple[float, ...]]:
    return item[0], item[2]


def check_budgets(space: SearchSpace, objectives: Objectives) -> None:
    """Refuse a budget that not even the cheapest spec of the space meets.

    Raises:
        ValueError: naming `objectives.budgets.<metric>`, the cheapest spec and the smallest
            feasible value.
    """
    for budget in objectives.budgets:
        spec, value = cheapest(space, budget.metric)
        if value > budget.max_value:
            factors = ", ".join(
                f"{name} {getattr(spec, name)}"
                for name in ("width_multiplier", "image_size", "ir_depths", "attn_blocks")
            )
            raise ValueError(
                f"objectives.budgets.{budget.metric}: {budget.max_value:g} is below the cheapest "
                f"spec of space {space.name!r} ({value:.6g} {budget.metric}: {factors}); the "
                f"smallest feasible value is {_ceil(value)}"
            )


def _ceil(value: float) -> str:
    """`value` rounded up at 4 significant digits (a budget of it admits the spec)."""
    digits = 3 - math.floor(math.log10(abs(value))) if value else 0
    scale = 10**digits
    return f"{math.ceil(value * scale) / scale:.{max(digits, 0)}f}"


def check_device(device: DeviceProfile, metrics: tuple[str, ...], torch_device: str) -> None:
    """Refuse a latency profile or training device this machine does not have.

    Raises:
        ValueError: naming `device` (a CUDA profile for latency without CUDA) or
            `evaluator.torch_device` (`cuda...` without CUDA).
    """
    cuda = torch.cuda.is_available()
    if "latency_ms" in metrics and device.backend == "cuda" and not cuda:
        raise ValueError(
            f"device: profile {device.name!r} measures on CUDA, but this machine has no CUDA "
            "device; choose a CPU profile (e.g. device=cpu_eager_1t)"
        )
    if "accuracy" in metrics and torch_device.startswith("cuda") and not cuda:
        raise ValueError(
            f"evaluator.torch_device: {torch_device!r}, but this machine has no CUDA device; "
            "allowed here: auto, cpu"
        )
