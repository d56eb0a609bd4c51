"""`mv2search.scaling.downsize` and `.rules`: every budget is met exactly by the analytic MACs,
MACs never increase along a path, and each baseline rule hits its MACs target."""

import math

import pytest
import torch

from mv2search.cost import count_macs
from mv2search.scaling.downsize import downsize
from mv2search.scaling.rules import RULES, rule_direction, scale_by_rule
from tests.scaling.conftest import synthetic_accuracy


def _predict(grid):
    def predict(X):
        mean = synthetic_accuracy(grid, X)
        return mean, torch.full_like(mean, 0.01)

    return predict


def _macs(grid, x):
    return count_macs(grid.space.decode(torch.tensor(x, dtype=torch.float64))) / 1e9


@pytest.mark.parametrize("fraction", [0.06, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_every_budget_is_met_and_macs_never_increase(grid, base, fraction):
    budget = fraction * _macs(grid, base.tolist())
    path = downsize(grid, _predict(grid), base, budget)
    macs = [_macs(grid, step.x) for step in path.steps]
    assert macs == pytest.approx([step.gmacs for step in path.steps], rel=1e-12)
    assert macs[-1] <= budget and all(b < a for a, b in zip(macs, macs[1:], strict=False))
    assert all(step.gmacs > budget for step in path.steps[:-1])  # it stops once within
    for a, b in zip(path.steps, path.steps[1:], strict=False):  # one factor, one grid step
        moved = [j for j in range(4) if a.x[j] != b.x[j]]
        assert len(moved) == 1 and grid.names[moved[0]] == b.factor
        j = moved[0]
        assert grid.values[j].index(b.x[j]) == grid.values[j].index(a.x[j]) - 1


def test_the_rule_cuts_the_least_important_factors_first(grid, base):
    path = downsize(grid, _predict(grid), base, 0.75 * _macs(grid, base.tolist()))
    # the synthetic accuracy barely depends on d_m: its step is the cheapest per GMAC
    assert path.steps[1].factor == "attn_blocks"


def test_a_budget_below_every_reachable_model_is_an_error(grid, base):
    with pytest.raises(ValueError, match="below the smallest model reachable"):
        downsize(grid, _predict(grid), base, 0.01)


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.75])
def test_each_rule_hits_its_macs_target_on_the_grid(grid, base, rule, fraction):
    budget = fraction * _macs(grid, base.tolist())
    point = scale_by_rule(grid, rule, base, budget)
    assert point.within_budget and point.t <= 0
    assert _macs(grid, point.x) == pytest.approx(point.gmacs) and point.gmacs <= budget
    assert grid.space.contains(grid.space.decode(torch.tensor(point.x)))
    c = rule_direction(rule, grid.names)
    for j in range(4):  # factors the rule does not move stay at the base
        if c[j] == 0:
            assert point.x[j] == base[j]


def test_alpha_only_is_the_published_family_and_says_when_it_cannot_reach(grid, base):
    half = scale_by_rule(grid, "alpha_only", base, 0.5 * _macs(grid, base.tolist()))
    assert half.x == [256.0, 0.5, 1.0, 1.0]  # mobilevitv2_050 (0.75 is over half the MACs)
    tiny = scale_by_rule(grid, "alpha_only", base, 0.2 * _macs(grid, base.tolist()))
    assert not tiny.within_budget and tiny.x == [256.0, 0.5, 1.0, 1.0]


def test_rule_exponents_are_the_published_ones():
    assert RULES["efficientnet"]["ir_depths"] == pytest.approx(math.log(1.2))
    assert RULES["efficientnet"]["width_multiplier"] == pytest.approx(math.log(1.1))
    assert RULES["efficientnet"]["image_size"] == pytest.approx(math.log(1.15))
    dollar = RULES["dollar"]  # MACs shares e_d + e_w + e_r = 1 with MACs ~ d w^2 r^2
    shares = dollar["ir_depths"] + 2 * dollar["width_multiplier"] + 2 * dollar["image_size"]
    assert shares == pytest.approx(1.0) and 2 * dollar["width_multiplier"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="unknown scaling rule 'mnas'"):
        rule_direction("mnas", ("image_size",))
