"""Test problems for the optimizer, in the same encoded form as a search space.

A `Problem` has a space (`dim`, `bounds`, `snap`, `sample_encoded`, `parameters`), `Objectives`,
`evaluate(x: d) -> dict` of metrics in their own units, optional exact constraints checked before
evaluation (`is_feasible(x) -> bool` and the same as values, `constraint(x) -> c`, feasible iff
all `<= 0`, Optuna's convention) and, where it is known, `max_hv`.

- `branin_currin()`: BraninCurrin, d=2, both minimised, reference (18, 6), max HV 59.36.
- `dtlz2()`: DTLZ2, d=6, m=2, minimised, reference (1.1, 1.1), max HV 0.4246.
- `c2_dtlz2()`: C2-DTLZ2, d=4, m=2 (the BoTorch tutorial's setting), reference (1.1, 1.1), max
  feasible HV 0.3996; its constraint (BoTorch's slack, `>= 0` feasible) is a known constraint:
  `constraint(x) = -slack(x)`. About 21.7 % of the box is feasible.
- `osy()`: OSY, d=6, m=2, minimised, six constraints (`-slack`, in their own units), reference
  (-75, 75); about 3.2 % of the box is feasible; no known maximum HV.
- `mv2_problem()`: `load_space('mv2')`, synthetic accuracy (max) vs exact giga-MACs (min), with an
  optional MACs budget (`constraint(x) = gmacs - max_gmacs`, `budget_slack`) and, when the
  latency table covers the space, predicted latency (min).
- `learning_curves()`, `learning_curves(agree=True)`: multi-fidelity, d=3, accuracy after a
  fraction `s` of the training steps (max) vs a MACs-like cost (min, the same at every `s`);
  `evaluate(x, s=1.0)`; reference (0.3, 2.2); max HV at `s = 1` 0.9652 (crossing curves) and
  1.2257 (agreeing), from a dense grid (formulas below).

Synthetic accuracy (deterministic, smooth in each coordinate, saturating at 0.95):

    w = log2(width_multiplier / 0.5) / 2            in [0, 1]
    r = (image_size - 128) / 128                    in [0, 1]
    t = (sum(ir_depths) - 5) / 6                    in [0, 1]
    a = sum_i attn_blocks_i * q(attn_types_i) / 12  q: separable 1.0, mha 1.1, additive 0.9, none 0
    f = (ffn_multiplier - 1.5) / 1.5                in [0, 1]
    z = 1.4 w + 0.8 r + 0.4 t + 0.9 a (1 + 0.5 r) + 0.15 f
    accuracy = 0.95 - 0.55 exp(-z)

Learning curves (`x = (w, t, q)` in `[0, 1]^3`: width, depth, resolution; `s` in `(0, 1]`):

    z = 1.2 w + 0.8 t + 0.6 q + 0.4 w t                  capacity, in [0, 3]
    a(x) = 0.40 + 0.55 (1 - exp(-1.1 z))                 asymptote: larger is better...
    r(x) = 9 exp(-z)                                     ...but learns slower
    accuracy(x, s) = a(x) (1 - exp(-s r(x)))             crossing curves
    accuracy(x, s) = a(x) (1 - exp(-3 s))                agreeing: the same ranking at every s
    gmacs(x) = 0.05 + 1.95 (c(x) - c_0) / (1 - c_0),     c = (0.25 + 0.75 w)^2 (0.5 + 0.5 t)
                                                             (0.35 + 0.65 q)^2, c_0 = c(0)

With crossing curves the most accurate capacity is z ~ 0.55 at s = 1/4 and z ~ 1.15 at s = 1
(Kendall's tau of the two rankings 0.37 on 300 uniform points); `noise_sd` adds Gaussian noise
to the accuracy, a function of (seed, x, s). Maximum HV at s = 1 (noise-free), on a 201^3 grid
(101^3 gives 1e-4 less): 0.9652 crossing, 1.2257 agreeing; at s = 1/4: 0.3704 and 0.3939.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from botorch.test_functions.multi_objective import C2DTLZ2, DTLZ2, OSY, BraninCurrin

from mv2search.search.optimizers.base import budget_slack
from mv2search.study.objectives import Budget, Objective, Objectives

__all__ = [
    "BoxSpace",
    "Problem",
    "branin_currin",
    "c2_dtlz2",
    "dtlz2",
    "learning_curves",
    "mv2_problem",
    "osy",
    "PROBLEMS",
]

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
    # The exact constraints as `c` values, feasible iff all <= 0 (None: unconstrained); agrees
    # with `is_feasible`.
    constraint: Callable[[torch.Tensor], torch.Tensor] | None = None
    # The metrics that change with the fidelity; when any, `evaluate(x, s=1.0)` takes the
    # fidelity `s` in (0, 1] (a fraction of the top rung's training steps).
    fidelity_metrics: tuple[str, ...] = ()

    def optimizer(self, name: str, seed: int, **options: Any) -> Any:
        """`make_optimizer(name, ...)` for this problem: its space, objectives and constraints."""
        from mv2search.search.optimizers import make_optimizer

        return make_optimizer(
            name,
            self.space,
            self.objectives,
            seed,
            is_feasible=self.is_feasible,
            constraint=self.constraint,
            **options,
        )

    def feasible_sample(self, k: int, seed: int) -> torch.Tensor:
        """The first `k` feasible of `4 k` scrambled-Sobol points (`k x d`)."""
        X = self.space.sample_encoded(4 * k, seed=seed)
        return torch.stack([x for x in X if self.is_feasible is None or self.is_feasible(x)][:k])


def _botorch_problem(name: str, function: Any) -> Problem:
    """A BoTorch multi-objective test function (built with `negate=True`) as a `Problem`.

    Args:
        name: The problem's name.
        function: A `MultiObjectiveTestProblem`, optionally a `ConstrainedBaseTestProblem`
            (its slack, `>= 0` feasible, becomes `constraint = -slack`).

    Returns:
        The problem; `max_hv` is None when BoTorch gives no maximum hypervolume.
    """
    names = [f"f{i}" for i in range(function.num_objectives)]
    objectives = Objectives([Objective(n, "min") for n in names], (-function.ref_point).tolist())

    def evaluate(x: torch.Tensor) -> dict[str, float]:
        y = -function(x.double().unsqueeze(0))[0]  # negate=True: back to minimised values
        return dict(zip(names, y.tolist(), strict=True))

    is_feasible = constraint = None
    if getattr(function, "num_constraints", 0):

        def constraint(x: torch.Tensor) -> torch.Tensor:
            return -function.evaluate_slack(x.double().unsqueeze(0))[0]

        def is_feasible(x: torch.Tensor) -> bool:
            return bool((constraint(x) <= 0).all())

    max_hv = getattr(function, "_max_hv", None)
    return Problem(
        name,
        BoxSpace(function.bounds),
        objectives,
        evaluate,
        is_feasible,
        None if max_hv is None else float(max_hv),
        constraint=constraint,
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


def osy() -> Problem:
    """OSY (d=6, m=2, minimised, six known constraints), reference (-75, 75), max HV unknown."""
    return _botorch_problem("osy", OSY(negate=True))


def _capacity_rate_cost(x: torch.Tensor) -> tuple[float, float, float]:
    """`z`, `a`, `r` and `gmacs` of the learning-curve problems (module docstring)."""
    w, t, q = (float(v) for v in x.double().reshape(3))
    z = 1.2 * w + 0.8 * t + 0.6 * q + 0.4 * w * t
    c0 = 0.25**2 * 0.5 * 0.35**2
    c = (0.25 + 0.75 * w) ** 2 * (0.5 + 0.5 * t) * (0.35 + 0.65 * q) ** 2
    return (
        0.40 + 0.55 * (1 - math.exp(-1.1 * z)),
        9.0 * math.exp(-z),
        0.05 + 1.95 * (c - c0) / (1 - c0),
    )


def learning_curves(agree: bool = False, noise_sd: float = 0.0, seed: int = 0) -> Problem:
    """A multi-fidelity problem: accuracy along a learning curve vs a MACs-like cost.

    Args:
        agree: Every spec learns at the same rate, so the ranking by accuracy is the same at
            every fidelity (a monotone transformation); otherwise larger specs reach a higher
            asymptote but learn slower, and low fidelities rank them differently.
        noise_sd: Standard deviation of Gaussian noise on the accuracy (0: none).
        seed: Seed of the noise: the same `(seed, x, s)` gives the same value.

    Returns:
        The problem (`evaluate(x, s=1.0)`, `fidelity_metrics == ("accuracy",)`, `max_hv` at
        `s = 1` without noise).
    """
    objectives = Objectives([Objective("accuracy", "max"), Objective("gmacs", "min")], (0.3, 2.2))

    def evaluate(x: torch.Tensor, s: float = 1.0) -> dict[str, float]:
        if not 0 < s <= 1:
            raise ValueError(f"s: the fidelity must be in (0, 1], got {s}")
        a, r, gmacs = _capacity_rate_cost(x)
        accuracy = a * (1 - math.exp(-s * (3.0 if agree else r)))
        if noise_sd:
            key = [seed, *(round(float(v) * 1e9) for v in x.reshape(-1)), round(s * 1e9)]
            accuracy += noise_sd * float(np.random.default_rng(np.abs(key)).standard_normal())
        return {"accuracy": accuracy, "gmacs": gmacs}

    name = "learning_curves_agree" if agree else "learning_curves"
    box = BoxSpace(torch.tensor([[0.0] * 3, [1.0] * 3]))
    max_hv = None if noise_sd else (1.2257 if agree else 0.9652)
    notes = {"agree": agree, "noise_sd": noise_sd}
    return Problem(name, box, objectives, evaluate, None, max_hv, notes, None, ("accuracy",))


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

    # The budget as the search runner has it: owned by the objectives, its slack the constraint.
    budgets = [Budget("gmacs", max_gmacs)] if max_gmacs is not None else []
    goals = Objectives(objectives, reference, budgets)

    def is_feasible(x: torch.Tensor) -> bool:
        return goals.is_feasible(space.decode(x))

    notes = {"latency": predictor is not None, "budget": budgets[0] if budgets else None}
    return Problem(
        "mv2",
        space,
        goals,
        evaluate,
        is_feasible if budgets else None,
        None,
        notes,
        constraint=budget_slack(space, goals),
    )


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "branin_currin": branin_currin,
    "dtlz2": dtlz2,
    "c2_dtlz2": c2_dtlz2,
    "osy": osy,
    "mv2": mv2_problem,
    "learning_curves": learning_curves,
    "learning_curves_agree": lambda: learning_curves(agree=True),
}
