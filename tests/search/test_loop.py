"""Tests of mv2search/search/loop.py (and the problems it runs)."""

from __future__ import annotations

import pytest
import torch

from mv2search.cost import count_macs
from mv2search.search.loop import optimize
from mv2search.search.optimizers import make_optimizer
from mv2search.search.problems import PROBLEMS, branin_currin, c2_dtlz2, mv2_problem, osy


def test_botorch_beats_random_on_branin_currin() -> None:
    problem = branin_currin()
    ours = make_optimizer(
        "botorch",
        problem.space,
        problem.objectives,
        0,
        n_initial=6,
        num_restarts=2,
        raw_samples=64,
        mc_samples=32,
    )
    trace = optimize(problem, ours, n_evals=16, seed=0)
    random = optimize(problem, "random", n_evals=16, seed=0)
    assert len(trace.hypervolume) == 16
    assert trace.hypervolume == sorted(trace.hypervolume)  # HV never decreases
    assert trace.hypervolume[-1] > random.hypervolume[-1] + 3.0
    assert trace.hypervolume[-1] > 0.8 * problem.max_hv


def test_loop_respects_the_mv2_macs_budget() -> None:
    problem = mv2_problem(max_gmacs=1.0, latency_store=None)
    trace = optimize(problem, "tpe", n_evals=6, batch=3, seed=0)
    assert trace.Y.shape == (6, 2)
    assert (trace.Y[:, 1] <= 1.0).all()
    for x in problem.space.sample_encoded(8, seed=4):  # the budget's slack, in giga-MACs
        slack = float(problem.constraint(x))
        assert slack == pytest.approx(count_macs(problem.space.decode(x)) / 1e9 - 1.0)
        assert (slack <= 0) == problem.is_feasible(x)


def test_a_problem_without_a_known_max_hv_wraps_and_runs() -> None:
    # OSY: BoTorch gives no maximum hypervolume; six constraints, about 3 % of the box feasible.
    problem = osy()
    assert problem.max_hv is None and PROBLEMS["osy"]().name == "osy"
    X = problem.space.sample_encoded(256, seed=0)
    values = torch.stack([problem.constraint(x) for x in X])
    assert values.shape == (256, 6)
    assert [problem.is_feasible(x) for x in X] == (values <= 0).all(dim=-1).tolist()
    assert 0 < float((values <= 0).all(dim=-1).double().mean()) < 0.1
    tpe = make_optimizer("tpe", problem.space, problem.objectives, 0, constraint=problem.constraint)
    trace = optimize(problem, tpe, n_evals=15, seed=0)
    assert all(problem.is_feasible(x) for x in trace.X)
    assert trace.hypervolume == sorted(trace.hypervolume)
    # TPE learnt from the six violations: it left the Sobol fallback behind
    assert tpe.n_infeasible > 0 and tpe.n_fallback < 3
    assert len(tpe.study.trials[0].constraints) == 6


def test_botorch_beats_random_on_c2_dtlz2_within_its_constraint() -> None:
    # 21 % of C2-DTLZ2's box is feasible and its Pareto front is cut by the constraint: the
    # acquisition's optima must be searched for inside the feasible set.
    problem = c2_dtlz2()
    ours = make_optimizer(
        "botorch",
        problem.space,
        problem.objectives,
        0,
        is_feasible=problem.is_feasible,
        num_restarts=6,
        raw_samples=256,
        mc_samples=32,
    )
    trace = optimize(problem, ours, n_evals=30, seed=0)
    assert all(problem.is_feasible(x) for x in trace.X)
    randoms = [optimize(problem, "random", n_evals=30, seed=s).hypervolume[-1] for s in range(3)]
    assert trace.hypervolume[-1] > max(randoms) + 0.02
