"""Test problems for the optimizer, in the same encoded form as a search space.

A `Problem` has a space (`dim`, `bounds`, `snap`, `sample_encoded`, `parameters`), `Objectives`,
`evaluate(x: d) -> dict` of metrics in their own units, an optional `is_feasible(x)` (exact
constraints, checked before evaluation) and, where BoTorch provides it, `max_hv`.

- `branin_currin()`: BraninCurrin, d=2, both minimised, reference (18, 6), max HV 59.36.
- `dtlz2()`: DTLZ2, d=6, m=2, minimised, reference (1.1, 1.1), max HV 0.4246.
- `c2_dtlz2()`: C2-DTLZ2, d=4, m=2 (the BoTorch tutorial's setting), reference (1.1, 1.1), max
  feasible HV 0.3996; its constraint (slack >= 0) is used as a known constraint (`is_feasible`).
- `mv2_problem()`: `load_space('mv2')`, synthetic accuracy (max) vs exact giga-MACs (min), with an
  optional MACs budget and, when the latency table covers the space, predicted latency (min).

Synthetic accuracy (deterministic, smooth in each coordinate, saturating at 0.95):

    w = log2(width_multiplier / 0.5) / 2            in [0, 1]
    r = (image_size - 128) / 128                    in [0, 1]
    t = (sum(ir_depths) - 5) / 6                    in [0, 1]
    a = sum_i attn_blocks_i * q(attn_types_i) / 12  q: separable 1.0, mha 1.1, additive 0.9, none 0
    f = (ffn_multiplier - 1.5) / 1.5                in [0, 1]
    z = 1.4 w + 0.8 r + 0.4 t + 0.9 a (1 + 0.5 r) + 0.15 f
    accuracy = 0.95 - 0.55 exp(-z)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from botorch.test_functions.multi_objective import C2DTLZ2, DTLZ2, BraninCurrin

from mv2search.study.objectives import Budget, Objective, Objectives

__all__ = ["BoxSpace", "Problem", "branin_currin", "c2_dtlz2", "dtlz2", "mv2_problem", "PROBLEMS"]

ATTENTION_QUALITY = {"separable": 1.0, "mha": 1.1, "additive": 0.9, "none": 0.0}


@dataclass(frozen=True)
class _BoxParameter:
    name: str
    bounds: tuple[float, float]
    type: str = "float"
    values: tuple[Any, ...] | None = None
    step: float | None = None
    log: bool = False


class BoxSpace:
    """A continuous box `[low, high]^d` with the encoded-space interface of `SearchSpace`.

    Args:
        bounds: `2 x d` box.
    """

    def __init__(self, bounds: torch.Tensor) -> None:
        self._bounds = bounds.double().clone()
        self.parameters = tuple(
            _BoxParameter(f"x{i}", (float(lo), float(hi)))
            for i, (lo, hi) in enumerate(self._bounds.T.tolist())
        )

    @property
    def dim(self) -> int:
        """Number of coordinates `d`."""
        return self._bounds.shape[-1]

    @property
    def bounds(self) -> torch.Tensor:
        """`2 x d` float64 box."""
        return self._bounds.clone()

    def snap(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp `x` (`d` or `n x d`) into the box."""
        return torch.clamp(x.double(), self._bounds[0], self._bounds[1])

    def sample_encoded(self, n: int, seed: int | None = None) -> torch.Tensor:
        """`n x d` scrambled-Sobol points in the box (same seed, same points)."""
        unit = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=seed).draw(
            n, dtype=torch.float64
        )
        return self._bounds[0] + unit * (self._bounds[1] - self._bounds[0])


@dataclass
class Problem:
    """An optimisation problem in encoded coordinates (see the module docstring)."""

    # Short name used in benchmark tables.
    name: str
    # The space (`SearchSpace` or `BoxSpace`).
    space: Any
    # Objectives with the hypervolume reference point.
    objectives: Objectives
    # Encoded candidate `d` -> metrics in their own units.
    evaluate: Callable[[torch.Tensor], dict[str, float]]
    # Exact constraints checked before evaluation (None: unconstrained).
    is_feasible: Callable[[torch.Tensor], bool] | None = None
    # Largest (feasible) hypervolume, where known.
    max_hv: float | None = None
    # Extra description (e.g. which objectives were skipped and why).
    notes: dict[str, Any] = field(default_factory=dict)


def _botorch_problem(name: str, function: Any) -> Problem:
    names = [f"f{i}" for i in range(function.num_objectives)]
    objectives = Objectives([Objective(n, "min") for n in names], (-function.ref_point).tolist())

    def evaluate(x: torch.Tensor) -> dict[str, float]:
        y = -function(x.double().unsqueeze(0))[0]  # negate=True: back to minimised values
        return dict(zip(names, y.tolist(), strict=True))

    is_feasible = None
    if getattr(function, "num_constraints", 0):

        def is_feasible(x: torch.Tensor) -> bool:
            return bool((function.evaluate_slack(x.double().unsqueeze(0)) >= 0).all())

    return Problem(
        name, BoxSpace(function.bounds), objectives, evaluate, is_feasible, float(function._max_hv)
    )


def branin_currin() -> Problem:
    """BraninCurrin (d=2, m=2, minimised), reference (18, 6), max HV 59.36."""
    return _botorch_problem("branin_currin", BraninCurrin(negate=True))


def dtlz2() -> Problem:
    """DTLZ2 (d=6, m=2, minimised), reference (1.1, 1.1), max HV 0.4246."""
    return _botorch_problem("dtlz2", DTLZ2(dim=6, num_objectives=2, negate=True))


def c2_dtlz2() -> Problem:
    """C2-DTLZ2 (d=4, m=2, minimised, constraint known), reference (1.1, 1.1), max HV 0.3996."""
    return _botorch_problem("c2_dtlz2", C2DTLZ2(dim=4, num_objectives=2, negate=True))


def synthetic_accuracy(spec: Any) -> float:
    """The MV2 problem's synthetic accuracy of a spec (formula in the module docstring)."""
    w = math.log2(spec.width_multiplier / 0.5) / 2
    r = (spec.image_size - 128) / 128
    t = (sum(spec.ir_depths) - 5) / 6
    a = (
        sum(
            n * ATTENTION_QUALITY[k] for n, k in zip(spec.attn_blocks, spec.attn_types, strict=True)
        )
        / 12
    )
    f = (spec.ffn_multiplier - 1.5) / 1.5
    z = 1.4 * w + 0.8 * r + 0.4 * t + 0.9 * a * (1 + 0.5 * r) + 0.15 * f
    return 0.95 - 0.55 * math.exp(-z)


def _latency_predictor(space: Any, store_path: str | None, device: str) -> Any:
    """The predictor when its table covers 256 sampled specs of the space, else None."""
    if store_path is None:
        return None
    from mv2search.cost.predictor import LatencyPredictor
    from mv2search.cost.store import LatencyStore

    predictor = LatencyPredictor(device, LatencyStore(store_path))
    return None if predictor.missing(space.sample(256, seed=0)) else predictor


def mv2_problem(
    max_gmacs: float | None = 2.0,
    latency_store: str | None = "runs/latency_bench2.sqlite",
    device: str = "cpu_ort_1t",
) -> Problem:
    """Synthetic accuracy (max) vs exact giga-MACs (min) over `load_space('mv2')`.

    Args:
        max_gmacs: MACs budget in giga-MACs (None: no budget); also sets the reference point.
        latency_store: Latency store with the predictor's table; predicted `latency_ms` (min) is
            a third objective only when the table covers the space (checked on 256 samples).
        device: Device profile of the latency table.

    Returns:
        The problem (`notes["latency"]` says whether latency is an objective).
    """
    from mv2search.cost import count_macs
    from mv2search.search.space import load_space

    space = load_space("mv2")
    predictor = _latency_predictor(space, latency_store, device)
    ref_gmacs = 1.1 * (max_gmacs if max_gmacs is not None else 10.0)
    objectives = [Objective("accuracy", "max"), Objective("gmacs", "min")]
    reference = [0.35, ref_gmacs]
    if predictor is not None:
        objectives.append(Objective("latency_ms", "min"))
        reference.append(200.0)

    def evaluate(x: torch.Tensor) -> dict[str, float]:
        spec = space.decode(x)
        out = {"accuracy": synthetic_accuracy(spec), "gmacs": count_macs(spec) / 1e9}
        if predictor is not None:
            out["latency_ms"] = predictor.predict_us(spec) / 1e3
        return out

    budget = Budget("macs", max_gmacs * 1e9) if max_gmacs is not None else None

    def is_feasible(x: torch.Tensor) -> bool:
        return budget is None or budget.feasible({"macs": count_macs(space.decode(x))})

    notes = {"latency": predictor is not None, "budget": budget}
    return Problem(
        "mv2",
        space,
        Objectives(objectives, reference),
        evaluate,
        is_feasible if budget else None,
        None,
        notes,
    )


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "branin_currin": branin_currin,
    "dtlz2": dtlz2,
    "c2_dtlz2": c2_dtlz2,
    "mv2": mv2_problem,
}
