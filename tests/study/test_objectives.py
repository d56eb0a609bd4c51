"""Tests of mv2search/study/objectives.py."""

from __future__ import annotations

import math

import pytest
import torch

from mv2search.arch import PRESETS
from mv2search.cost import count_macs, count_params
from mv2search.study.objectives import Budget, Objective, Objectives, exact_metrics


def _objectives() -> Objectives:
    return Objectives([Objective("accuracy", "max"), Objective("gmacs", "min")], (0.0, 4.0))


def test_hypervolume_matches_hand_computed_2d_value() -> None:
    # Points (acc, gmacs): (0.5, 1), (0.8, 3), dominated (0.4, 2), beyond the reference (0.9, 5).
    # Union of [0, 0.5] x [1, 4] and [0, 0.8] x [3, 4]: 0.5 * 3 + (0.8 - 0.5) * 1 = 1.8.
    Y = torch.tensor([[0.5, 1.0], [0.8, 3.0], [0.4, 2.0], [0.9, 5.0], [math.nan, 0.0]])
    assert _objectives().hypervolume(Y) == pytest.approx(1.8)


def test_hypervolume_of_nothing_useful_is_zero() -> None:
    assert _objectives().hypervolume(torch.tensor([[-0.1, 1.0], [0.5, 4.5]])) == 0.0
    assert _objectives().hypervolume(torch.empty(0, 2)) == 0.0


def test_pareto_mask_ignores_failed_and_dominated_rows() -> None:
    Y = torch.tensor([[0.5, 1.0], [0.8, 3.0], [0.4, 2.0], [math.nan, 0.5]])
    assert _objectives().pareto_mask(Y).tolist() == [True, True, False, False]


def test_max_min_conversion_round_trips_and_converts_the_reference_point() -> None:
    objectives = _objectives()
    Y = torch.tensor([[0.5, 1.0], [math.nan, 2.0]], dtype=torch.float64)
    Y_max = objectives.to_max(Y)
    assert Y_max[0].tolist() == [0.5, -1.0] and math.isnan(Y_max[1, 0])
    assert torch.equal(objectives.from_max(Y_max)[0], Y[0])
    assert objectives.ref_point_max.tolist() == [0.0, -4.0]
    assert objectives.metrics_tensor([{"accuracy": 0.7}])[0, 1].isnan()


def test_invalid_objectives_name_the_field() -> None:
    with pytest.raises(ValueError, match="direction 'up'.*allowed"):
        Objective("accuracy", "up")
    with pytest.raises(ValueError, match="reference_point"):
        Objectives([Objective("accuracy")], (0.0, 1.0))
    with pytest.raises(ValueError, match="unique"):
        Objectives([Objective("a"), Objective("a")], (0.0, 1.0))


def test_budget_feasibility() -> None:
    budget = Budget("macs", 1e9)
    assert budget.feasible({"macs": 1e9}) and not budget.feasible({"macs": 1e9 + 1})
    with pytest.raises(KeyError, match="'macs'.*available"):
        budget.feasible({"params": 1})


def test_the_objectives_own_the_exact_budgets() -> None:
    spec = PRESETS["mobilevitv2_050"]  # 0.4805 GMACs, 1.37 M params at 256 px
    gmacs, mparams = count_macs(spec) / 1e9, count_params(spec) / 1e6
    assert exact_metrics(spec) == {"gmacs": gmacs, "mparams": mparams}
    goals = [Objective("accuracy"), Objective("gmacs", "min")]
    assert Objectives(goals, (0.0, 4.0)).is_feasible(spec)  # no budget
    at_limit = Objectives(goals, (0.0, 4.0), [Budget("gmacs", gmacs)])
    assert at_limit.is_feasible(spec)  # inclusive
    assert not Objectives(goals, (0.0, 4.0), [Budget("gmacs", gmacs * 0.999)]).is_feasible(spec)
    both = [Budget("gmacs", 1.0), Budget("mparams", mparams * 0.999)]
    assert not Objectives(goals, (0.0, 4.0), both).is_feasible(spec)
    assert Objectives(goals, (0.0, 4.0), [Budget("gmacs", 1.0)]) == at_limit.__class__(
        goals, (0.0, 4.0), [Budget("gmacs", 1.0)]
    )
    with pytest.raises(ValueError, match=r"budgets.latency_ms: only exact metrics.*gmacs"):
        Objectives(goals, (0.0, 4.0), [Budget("latency_ms", 10.0)])


def test_hypervolume_of_one_objective_is_the_best_gain_over_the_reference() -> None:
    one = Objectives([Objective("latency_ms", "min")], (10.0,))
    assert one.hypervolume(torch.tensor([[4.0], [7.0], [12.0], [math.nan]])) == pytest.approx(6.0)
    assert one.hypervolume(torch.tensor([[11.0]])) == 0.0
