"""`SubnetSampler`: feasible, seeded random subnets; the largest and smallest under a budget."""

from __future__ import annotations

import pytest
import torch

from mv2search.cost import count_macs
from mv2search.search.evaluator import proxy_resolution as search_proxy_resolution
from mv2search.supernet_train import Feasibility, SubnetSampler, proxy_resolution

BUDGET = 2.0  # giga-MACs: well inside the mv2 space (its largest has 14.5)


def _gmacs(spec) -> float:
    return count_macs(spec) / 1e9


@pytest.fixture(scope="module")
def sampler(mv2_space):
    return SubnetSampler(mv2_space, Feasibility.budget(max_gmacs=BUDGET), seed=0)


def test_random_subnets_are_feasible_inside_the_space_and_seeded(mv2_space, sampler):
    specs = sampler.sample(40)
    assert all(_gmacs(spec) <= BUDGET for spec in specs)
    assert all(mv2_space.contains(spec) for spec in specs)
    assert len(set(specs)) > 20
    budget = Feasibility.budget(max_gmacs=BUDGET)
    assert SubnetSampler(mv2_space, budget, seed=0).sample(40) == specs
    assert SubnetSampler(mv2_space, budget, seed=1).sample(40) != specs


def test_the_state_dict_continues_the_draws(mv2_space):
    budget = Feasibility.budget(max_gmacs=BUDGET)
    first = SubnetSampler(mv2_space, budget, seed=3)
    first.sample(5)
    state = first.state_dict()
    expected = first.sample(5)
    second = SubnetSampler(mv2_space, budget, seed=99)
    second.load_state_dict(state)
    assert second.sample(5) == expected


def test_without_a_budget_the_largest_and_smallest_are_the_corners(mv2_space):
    sampler = SubnetSampler(mv2_space, Feasibility.budget(), seed=0)
    largest, smallest = sampler.largest, sampler.smallest
    assert (largest.width_multiplier, largest.image_size) == (2.0, 256)
    assert largest.ir_depths == (2, 3, 2, 2, 2) and largest.attn_blocks == (4, 4, 4)
    assert largest.ffn_multiplier == 3.0
    for stage in range(3):  # each stage's type is its costliest
        for kind in ("separable", "mha", "additive"):
            types = list(largest.attn_types)
            types[stage] = kind
            assert count_macs(largest.replace(attn_types=tuple(types))) <= count_macs(largest)
    assert (smallest.width_multiplier, smallest.image_size) == (0.5, 128)
    assert smallest.ir_depths == (1,) * 5 and smallest.attn_blocks == (0, 0, 0)
    assert smallest.ffn_multiplier == 1.5
    assert sampler.max_image_size == 256


def test_under_a_budget_the_largest_is_feasible_and_maximal(mv2_space, sampler):
    largest = sampler.largest
    assert _gmacs(largest) <= BUDGET < _gmacs(SubnetSampler(mv2_space, lambda s: True).largest)
    assert _gmacs(largest) > 0.9 * BUDGET
    x = mv2_space.encode(largest)
    for j, parameter in enumerate(mv2_space.parameters):
        grid = sampler.grids[j]
        if parameter.type == "choice" or x[j] >= grid[-1]:
            continue
        up = x.clone()
        up[j] = min(value for value in grid if value > x[j])
        assert _gmacs(mv2_space.decode(up)) > BUDGET, f"{parameter.name} can still step up"
    assert min(largest.attn_blocks) > 0  # proportions kept: not all the budget on width


def test_no_feasible_subnet_raises_naming_feasible(mv2_space):
    with pytest.raises(ValueError, match="feasible: even the smallest subnet"):
        SubnetSampler(mv2_space, Feasibility.budget(max_gmacs=0.01))


def test_rejection_sampling_gives_up_after_max_tries(mv2_space):
    floor = count_macs(SubnetSampler(mv2_space, Feasibility.budget()).smallest)
    only_smallest = Feasibility(lambda spec: count_macs(spec) <= floor, "the smallest only")
    sampler = SubnetSampler(mv2_space, only_smallest, seed=0, max_tries=3)
    with pytest.raises(ValueError, match="max_tries=3: no feasible subnet in 3 random draws"):
        sampler.sample(1)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda space: SubnetSampler(space, lambda s: True, max_tries=0), "max_tries"),
        (lambda space: SubnetSampler(space, lambda s: True).sample(-1), "n"),
        (lambda space: Feasibility.budget(max_gmacs=-1.0), "max_gmacs"),
        (lambda space: Feasibility.budget(max_mparams=0), "max_mparams"),
    ],
)
def test_bad_arguments_name_the_field(mv2_space, call, field):
    with pytest.raises(ValueError, match=f"^{field}="):
        call(mv2_space)


def test_proxy_resolution_is_the_searchs():
    for size in range(64, 417, 8):
        for scale in (0.125, 0.25, 0.3, 0.5, 1.0):
            assert proxy_resolution(size, scale) == search_proxy_resolution(size, scale)


def test_the_budget_predicate_is_exact_gmacs(mv2_space, sampler):
    spec = sampler.largest
    gmacs = _gmacs(spec)
    assert Feasibility.budget(max_gmacs=gmacs)(spec)
    assert not Feasibility.budget(max_gmacs=gmacs * (1 - 1e-9))(spec)
    assert torch.is_tensor(sampler.state_dict()["generator"])
