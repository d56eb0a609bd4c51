"""The subset GP of large histories (search/optimizers/subset.py, `options.large_data`)."""

from __future__ import annotations

import pytest
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated

from mv2search.cost import count_macs
from mv2search.search import load_space
from mv2search.search.optimizers import BoTorchOptions, make_optimizer
from mv2search.search.optimizers.fidelity import FIDELITY_MODELS
from mv2search.search.optimizers.subset import subset_rows
from mv2search.search.problems import mv2_problem

SPACE = load_space("mv2")
FAST = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16, "fit_maxiter": 40}
BUDGET_GMACS = 1.0
UNIT = torch.tensor([[0.0] * 3, [1.0] * 3], dtype=torch.float64)


def _random_history(n: int, m: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    Y = torch.rand(n, m, generator=generator, dtype=torch.float64)
    return X, Y


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"large_data": "inducing"}, "large_data"),
        ({"large_data_after": 1}, "large_data_after"),
        ({"large_data_after": 2.5}, "large_data_after"),
    ],
)
def test_a_bad_large_data_option_names_the_field_and_what_is_allowed(
    options: dict, field: str
) -> None:
    with pytest.raises(ValueError, match=rf"optimizer\.options\.{field}: .*allowed"):
        BoTorchOptions(**options)


def test_the_subset_keeps_every_front_point_the_recent_ones_and_caps_the_size() -> None:
    X, Y = _random_history(400)
    rows = subset_rows(X, Y, UNIT, 60)
    assert rows.shape[0] == 60 and torch.equal(rows, rows.unique())  # distinct, ascending
    front = is_non_dominated(Y, deduplicate=False).nonzero().flatten()
    assert 0 < front.shape[0] < 60 and set(front.tolist()) <= set(rows.tolist())
    assert set(range(400 - 60 // 8, 400)) <= set(rows.tolist())  # the most recent
    assert torch.equal(subset_rows(X, Y, UNIT, 60), rows)  # no randomness
    assert torch.equal(subset_rows(X, Y, UNIT, 400), torch.arange(400))  # it fits: all


def test_a_front_larger_than_the_subset_is_thinned_to_the_size() -> None:
    X, _ = _random_history(100)
    angle = torch.linspace(0, torch.pi / 2, 100, dtype=torch.float64)
    Y = torch.stack([angle.cos(), angle.sin()], dim=-1)  # every point Pareto-optimal
    rows = subset_rows(X, Y, UNIT, 20)
    assert rows.shape[0] == 20
    assert {0, 99} <= set(rows.tolist())  # the spread reaches both ends


@pytest.mark.parametrize("all_rungs", [False, True])
def test_multi_fidelity_subsets_keep_whole_specs_and_count_what_the_model_fits(
    all_rungs: bool,
) -> None:
    X, Y = _random_history(120)  # 120 specs at rung 0, the first 60 also at the top rung
    X, Y = torch.cat([X, X[:60]]), torch.cat([0.5 * Y, Y[:60]])
    s = torch.cat([torch.full((120,), 0.25), torch.ones(60)]).double()
    rows = subset_rows(X, Y, UNIT, 50, s, all_rungs)
    specs = {tuple(r) for r in X[rows].tolist()}
    assert 0 < (rows.shape[0] if all_rungs else len(specs)) <= 50
    every_row = [i for i, r in enumerate(X.tolist()) if tuple(r) in specs]
    assert rows.tolist() == every_row  # every row of a chosen spec
    top = torch.cat([torch.arange(120, 180), torch.arange(60, 120)])  # each spec's top row
    front = top[is_non_dominated(Y[top], deduplicate=False)]
    assert set(front.tolist()) <= set(rows.tolist())


def _mv2_history(k: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    problem = mv2_problem(max_gmacs=BUDGET_GMACS, latency_store=None)
    X = SPACE.sample_encoded(4 * k, seed=3)
    X = torch.stack([x for x in X if problem.is_feasible(x)][:k]).double()
    Y = problem.objectives.to_max(
        problem.objectives.metrics_tensor([problem.evaluate(x) for x in X])
    )
    return X, Y, problem


def _optimizer(problem, mode: str, seed: int = 0, **options: object):
    return make_optimizer(
        "botorch",
        SPACE,
        problem.objectives,
        seed,
        is_feasible=problem.is_feasible,
        large_data=mode,
        large_data_after=60,
        **{**FAST, **options},
    )


def test_a_subset_proposal_on_400_observations_is_feasible_seeded_and_near_the_front() -> None:
    X, Y, problem = _mv2_history(400)
    pending = X[-3:]  # the last three still running
    X, Y = X[:-3], Y[:-3]
    first = _optimizer(problem, "subset", seed=5).propose(X, Y, pending, 2)
    again = _optimizer(problem, "subset", seed=5).propose(X, Y, pending, 2)
    assert torch.equal(first, again)  # bit-identical
    assert first.shape == (2, SPACE.dim)
    assert all(count_macs(spec) <= BUDGET_GMACS * 1e9 for spec in SPACE.decode(first))
    old = {tuple(r) for r in torch.cat([X, pending]).tolist()}
    assert not old & {tuple(r) for r in first.tolist()}
    # near the front: a proposal is dominated by fewer observations than a random point is
    values = problem.objectives.to_max(
        problem.objectives.metrics_tensor([problem.evaluate(x) for x in first])
    )

    def dominated_by(y: torch.Tensor) -> int:
        return int(((Y >= y).all(dim=-1) & (Y > y).any(dim=-1)).sum())

    random = torch.tensor([dominated_by(y) for y in Y], dtype=torch.float64)
    assert max(dominated_by(y) for y in values) <= 3 < random.median()


def test_below_the_threshold_the_subset_mode_is_the_exact_gp() -> None:
    X, Y, problem = _mv2_history(60)
    pending = torch.empty(0, SPACE.dim)
    exact = _optimizer(problem, "exact", seed=2).propose(X, Y, pending, 1)
    subset = _optimizer(problem, "subset", seed=2).propose(X, Y, pending, 1)
    assert torch.equal(exact, subset)
    optimizer = _optimizer(problem, "subset")
    assert optimizer._fitting_set(X, Y, None)[0] is X  # the same tensors, not a copy
    assert (
        optimizer._fitting_set(torch.cat([X, X + 0.5]), torch.cat([Y, Y]), None)[0].shape[0] == 60
    )


@pytest.mark.parametrize("kind", FIDELITY_MODELS)
def test_subset_proposals_with_fidelity_are_feasible_and_new(kind: str) -> None:
    X, Y, problem = _mv2_history(80)
    s = torch.full((80,), 0.25, dtype=torch.float64)
    X, Y, s = (
        torch.cat([X, X[:20]]),
        torch.cat([Y, Y[:20]]),
        torch.cat([s, torch.ones(20, dtype=torch.float64)]),
    )
    optimizer = _optimizer(problem, "subset", fidelity_model=kind)
    new = optimizer.propose(X, Y, torch.empty(0, SPACE.dim), 1, fidelity=s)
    assert new.shape == (1, SPACE.dim)
    assert count_macs(SPACE.decode(new[0])) <= BUDGET_GMACS * 1e9
    assert not {tuple(r) for r in X.tolist()} & {tuple(r) for r in new.tolist()}
