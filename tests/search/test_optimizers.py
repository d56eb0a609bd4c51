"""Contract tests applied to every optimizer (mv2search/search/optimizers)."""

from __future__ import annotations

import pytest
import torch
from optuna.trial import TrialState

from mv2search.arch import ArchSpec
from mv2search.cost import count_macs
from mv2search.search import load_space
from mv2search.search.optimizers import OPTIMIZERS, budget_slack, make_optimizer
from mv2search.search.optimizers.optuna_baselines import OptunaGPOptimizer
from mv2search.search.problems import BoxSpace, mv2_problem
from mv2search.study.objectives import Budget, Objective, Objectives

SPACE = load_space("mv2")
OBJECTIVES = Objectives([Objective("accuracy", "max"), Objective("gmacs", "min")], (0.35, 11.0))
BOTORCH_FAST = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16}


def _optimizer(name: str, seed: int = 0, **options: object):
    if name == "botorch":
        options = {**BOTORCH_FAST, **options}
    return make_optimizer(name, SPACE, OBJECTIVES, seed, **options)


def _history(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    problem = mv2_problem(max_gmacs=None, latency_store=None)
    X = SPACE.sample_encoded(k, seed=7)
    Y = problem.objectives.metrics_tensor([problem.evaluate(x) for x in X])
    Y[1] = float("nan")  # a failed evaluation
    return X, OBJECTIVES.to_max(Y)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_proposals_are_in_bounds_on_the_grid_and_decode(name: str) -> None:
    X, Y = _history(8)
    new = _optimizer(name).propose(X, Y, torch.empty(0, SPACE.dim), 2)
    assert new.shape == (2, SPACE.dim)
    bounds = SPACE.bounds
    assert ((new >= bounds[0]) & (new <= bounds[1])).all()
    assert torch.equal(SPACE.snap(new), new)
    assert all(isinstance(spec, ArchSpec) for spec in SPACE.decode(new))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_same_seed_gives_same_proposals(name: str) -> None:
    X, Y = _history(8)
    first = _optimizer(name, seed=3).propose(X, Y, torch.empty(0, SPACE.dim), 2)
    second = _optimizer(name, seed=3).propose(X, Y, torch.empty(0, SPACE.dim), 2)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_empty_history_works(name: str) -> None:
    empty = torch.empty(0, SPACE.dim)
    new = _optimizer(name).propose(empty, torch.empty(0, 2), empty, 3)
    assert new.shape == (3, SPACE.dim)
    assert len({tuple(row) for row in new.tolist()}) == 3


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_evaluated_and_pending_points_are_not_proposed_again(name: str) -> None:
    X, Y = _history(8)
    pending = SPACE.sample_encoded(3, seed=11)
    new = _optimizer(name).propose(X, Y, pending, 2)
    old = {tuple(row) for row in torch.cat([X, pending]).tolist()}
    assert not old & {tuple(row) for row in new.tolist()}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_no_infeasible_proposal_under_a_macs_budget(name: str) -> None:
    X, Y = _history(8)
    budget = 0.6e9

    def is_feasible(x: torch.Tensor) -> bool:
        return count_macs(SPACE.decode(x)) <= budget

    new = _optimizer(name, is_feasible=is_feasible).propose(X, Y, torch.empty(0, SPACE.dim), 3)
    assert new.shape[0] == 3
    assert all(count_macs(spec) <= budget for spec in SPACE.decode(new))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_seeds_do_not_share_streams(name: str) -> None:
    # Seeding with `seed + len(history)` gave seed 1 at 7 observations the stream of seed 0 at 8:
    # random search then evaluated almost the same points under every seed.
    X, Y = _history(9)
    first = _optimizer(name, seed=0).propose(X[:8], Y[:8], torch.empty(0, SPACE.dim), 1)
    second = _optimizer(name, seed=1).propose(X[:7], Y[:7], torch.empty(0, SPACE.dim), 1)
    assert not torch.equal(first, second)


def _boundary_proposals(bisect_steps: int) -> torch.Tensor:
    space = BoxSpace(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    objectives = Objectives([Objective("a", "max"), Objective("b", "max")], (0.0, 0.0))
    X = torch.tensor([[0.1, 0.2], [0.3, 0.3], [0.6, 0.1], [0.2, 0.5], [0.05, 0.05]])
    options = {"n_initial": 2, "raw_samples": 16, "num_restarts": 4, "bisect_steps": bisect_steps}
    optimizer = make_optimizer(
        "botorch", space, objectives, 0, is_feasible=lambda x: float(x.sum()) <= 1, **options
    )
    return optimizer.propose(X, X.clone(), torch.empty(0, 2), 2)


def test_botorch_finds_the_feasible_boundary() -> None:
    # Maximise (x0, x1) on [0, 1]^2 subject to x0 + x1 <= 1: every Pareto-optimal point is on the
    # boundary, which the unconstrained acquisition optimum (1, 1) lies beyond. Without the
    # bisection the pick is the best of 16 sampled points, further inside.
    found, pool_only = _boundary_proposals(10), _boundary_proposals(0)
    assert found.shape == pool_only.shape == (2, 2)
    assert (found.sum(dim=-1) <= 1).all() and (pool_only.sum(dim=-1) <= 1).all()
    assert (found.sum(dim=-1) > 0.99).all()
    assert found.sum(dim=-1).min() > pool_only.sum(dim=-1).max()


def _marginal_log_likelihood(model) -> float:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    with torch.no_grad():
        value = mll(model(*model.train_inputs), model.train_targets).sum().item()
    model.eval()
    return value


def test_botorch_warm_start_fits_better_in_the_same_iterations() -> None:
    # The second fit starts from the first one's hyperparameters: within the same small number of
    # L-BFGS-B iterations it reaches a higher marginal likelihood than a fit from the defaults.
    X, Y = _history(24)
    ok = torch.isfinite(Y).all(dim=-1)
    X, Y = X[ok].double(), Y[ok].double()
    fits = {}
    for warm in (True, False):
        optimizer = _optimizer(
            "botorch", fit_maxiter=200, warm_fit_maxiter=5, warm_start=warm, warm_start_after=0
        )
        optimizer._fit(X[:-1], Y[:-1])
        if not warm:
            optimizer.options.fit_maxiter = 5
        fits[warm] = _marginal_log_likelihood(optimizer._fit(X, Y))
    assert fits[True] > fits[False]


def test_unknown_optimizer_lists_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="optimizer.name.*allowed.*botorch"):
        make_optimizer("cmaes", SPACE, OBJECTIVES)


def test_unknown_option_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"optimizer.options.num_restart: .*allowed.*num_restarts"):
        make_optimizer("botorch", SPACE, OBJECTIVES, num_restart=3)
    with pytest.raises(ValueError, match=r"optimizer.options.mc_samples: .*allowed.*max_tries"):
        make_optimizer("tpe", SPACE, OBJECTIVES, mc_samples=3)


# -- exact constraints told to Optuna's constrained samplers -------------------------------------
BOX = BoxSpace(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
BOTH_MAX = Objectives([Objective("a", "max"), Objective("b", "max")], (0.0, 0.0))


def _slack(x: torch.Tensor) -> torch.Tensor:
    # Maximise (x0, x1) subject to x0 + x1 <= 0.6 (18 % of the box): the unconstrained optimum
    # (1, 1) is infeasible and the front lies on the boundary.
    return (x.sum(dim=-1, keepdim=True) - 0.6).double()


def _box_history(k: int) -> torch.Tensor:
    X = BOX.sample_encoded(64, seed=5)
    return X[_slack(X)[:, 0] <= 0][:k]


class _FailOnly(OptunaGPOptimizer):
    """GPSampler as it was: an infeasible ask told FAIL, nothing read back."""

    constrained = False


@pytest.mark.parametrize("name", ["tpe", "nsga2", "optuna_gp"])
def test_constrained_samplers_are_told_the_constraint_values(name: str) -> None:
    X = _box_history(12)
    optimizer = make_optimizer(name, BOX, BOTH_MAX, 0, constraint=_slack, population_size=4)
    new = optimizer.propose(X, X.clone(), torch.empty(0, 2), 2)
    assert new.shape == (2, 2) and (_slack(new) <= 0).all()
    trials = optimizer.study.trials
    for trial, x in zip(trials, X, strict=False):  # the history, with its slack
        assert trial.state == TrialState.COMPLETE
        assert trial.constraints == {"0": pytest.approx(float(_slack(x)))}
    asked = trials[X.shape[0] :]
    assert [t.state for t in asked].count(TrialState.RUNNING) == 2  # the proposals
    for trial in asked:  # an infeasible ask is an infeasible trial, not a FAIL
        slack = float(_slack(torch.tensor([trial.params["x0"], trial.params["x1"]])))
        if slack > 0:
            assert trial.state == TrialState.COMPLETE
            assert trial.constraints == {"0": pytest.approx(slack)}
    # with these seeds TPE and NSGA-II asked an infeasible point; GPSampler's asks were feasible
    assert name == "optuna_gp" or optimizer.n_infeasible >= 1
    assert optimizer.n_fallback == 0


def test_gp_sampler_leaves_the_fallback_once_told_the_constraint() -> None:
    # Told FAIL, GPSampler asks its infeasible optimum again until `max_tries` runs out and the
    # proposal comes from the Sobol design; told the slack, its constraint GP moves it inside.
    X = _box_history(12)
    told = make_optimizer("optuna_gp", BOX, BOTH_MAX, 0, constraint=_slack)
    fail_only = _FailOnly(BOX, BOTH_MAX, 0, constraint=_slack)
    for optimizer in (told, fail_only):
        new = optimizer.propose(X, X.clone(), torch.empty(0, 2), 1)
        assert (_slack(new) <= 0).all()
    assert told.n_fallback == 0 and told.n_infeasible < told.max_tries
    assert fail_only.n_fallback == 1 and fail_only.n_infeasible == 0


def test_nsga2_ranks_a_feasible_trial_above_an_infeasible_dominating_one() -> None:
    # Row 0 dominates every other row but violates x0 <= 0.9. With population 4, generation 2's
    # parents are the best 4 of the 8 rows (generations 0 and 1): by constrained dominance,
    # never row 0; without the constraint, row 0 first.
    X = torch.cat([torch.tensor([[0.95, 0.5]]), BOX.sample_encoded(7, seed=3) * 0.8])
    Y = torch.cat([torch.tensor([[2.0, 2.0]]), X[1:]])

    def x0_at_most(x: torch.Tensor) -> torch.Tensor:
        return (x[..., :1] - 0.9).double()

    parents = {}
    for constraint in (x0_at_most, None):
        optimizer = make_optimizer(
            "nsga2", BOX, BOTH_MAX, 0, constraint=constraint, population_size=4, max_tries=1
        )
        optimizer.propose(X, Y, torch.empty(0, 2), 1)
        study = optimizer.study
        parents[constraint] = {t.number for t in study.sampler.get_parent_population(study, 2)}
    assert len(parents[x0_at_most]) == 4 and 0 not in parents[x0_at_most]
    assert 0 in parents[None]


def test_a_filter_alone_becomes_a_one_value_constraint_and_values_alone_filter() -> None:
    X = _box_history(12)

    def is_feasible(x: torch.Tensor) -> bool:
        return bool(_slack(x) <= 0)

    from_filter = make_optimizer("tpe", BOX, BOTH_MAX, 0, is_feasible=is_feasible)
    assert (_slack(from_filter.propose(X, X.clone(), torch.empty(0, 2), 3)) <= 0).all()
    values = {t.constraints["0"] for t in from_filter.study.trials if t.constraints}
    assert values == {0.0, 1.0}  # the history is feasible; some ask was not
    fast = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16}
    for name, options in (("random", {}), ("botorch", fast)):
        optimizer = make_optimizer(name, BOX, BOTH_MAX, 0, constraint=_slack, **options)
        assert (_slack(optimizer.propose(X, X.clone(), torch.empty(0, 2), 2)) <= 0).all()


def test_a_constraint_that_disagrees_with_the_filter_is_refused() -> None:
    X = _box_history(12)
    optimizer = make_optimizer(
        "tpe", BOX, BOTH_MAX, 0, is_feasible=lambda x: False, constraint=_slack
    )
    with pytest.raises(ValueError, match="constraint: .*is_feasible says infeasible"):
        optimizer.propose(X, X.clone(), torch.empty(0, 2), 1)


def test_budget_slack_is_the_runner_budget_as_constraint_values() -> None:
    objectives = Objectives(OBJECTIVES.objectives, (0.35, 11.0), [Budget("gmacs", 0.6)])
    slack = budget_slack(SPACE, objectives)
    assert budget_slack(SPACE, OBJECTIVES) is None  # no budget
    for x in SPACE.sample_encoded(16, seed=2):
        spec = SPACE.decode(x)
        assert float(slack(x)) == pytest.approx(count_macs(spec) / 1e9 - 0.6)
        assert bool(slack(x) <= 0) == objectives.is_feasible(spec)


# -- the box decompositions of qLogNEHVI ----------------------------------------------------------
@pytest.mark.parametrize("m", [3, 4])
def test_numpy_partitioning_gives_botorchs_cells(m: int) -> None:
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )

    from mv2search.search.optimizers.partitioning import NumpyNondominatedPartitioning

    generator = torch.Generator().manual_seed(m)
    ref = torch.full((m,), 0.1, dtype=torch.float64)
    for trial in range(12):
        Y = torch.rand(int(torch.randint(1, 50, (1,), generator=generator)), m, generator=generator)
        Y = Y.double().round(decimals=1) if trial % 3 == 0 else Y.double()  # ties
        ours = NumpyNondominatedPartitioning(ref, Y)
        botorch = FastNondominatedPartitioning(ref, Y)
        assert torch.equal(ours.get_hypercell_bounds(), botorch.get_hypercell_bounds())
        assert torch.equal(ours.compute_hypervolume(), botorch.compute_hypervolume())


def test_three_objectives_search_coarse_and_choose_with_the_full_acquisition() -> None:
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.sampling import SobolQMCNormalSampler

    from mv2search.cost import count_params
    from mv2search.search.optimizers.partitioning import NumpyNondominatedPartitioning

    names = ("accuracy", "gmacs", "mparams")
    objectives = Objectives(
        [Objective(n, "max" if n == "accuracy" else "min") for n in names], (0.35, 11.0, 20.0)
    )
    problem = mv2_problem(max_gmacs=None, latency_store=None)
    X = SPACE.sample_encoded(12, seed=4).double()
    rows = [[problem.evaluate(x)["accuracy"], 0.0, 0.0] for x in X]
    for row, spec in zip(rows, SPACE.decode(X), strict=True):
        row[1:] = [count_macs(spec) / 1e9, count_params(spec) / 1e6]
    Y = objectives.to_max(torch.tensor(rows, dtype=torch.float64))
    fast = {**BOTORCH_FAST, "search_mc_samples": 8}  # the search: 8 samples, the choice: 16
    optimizer = make_optimizer("botorch", SPACE, objectives, 0, **fast)
    model = optimizer._fit(X, Y)
    acqf, search = optimizer._acquisition(model, X, torch.empty(0, SPACE.dim))
    assert acqf.p_class is NumpyNondominatedPartitioning
    assert acqf.sampler.sample_shape == torch.Size([16])
    assert search.sampler.sample_shape == torch.Size([8])
    reference = qLogNoisyExpectedHypervolumeImprovement(  # BoTorch's, its own partitioning
        model=model,
        ref_point=objectives.ref_point_max.tolist(),
        X_baseline=acqf.X_baseline,
        sampler=SobolQMCNormalSampler(torch.Size([16]), seed=0),
        prune_baseline=False,
    )
    assert torch.equal(acqf.cell_lower_bounds, reference.cell_lower_bounds)
    x = SPACE.sample_encoded(5, seed=8).double().unsqueeze(1)
    with torch.no_grad():
        assert torch.equal(acqf(x), reference(x))
    new = optimizer.propose(X, Y, torch.empty(0, SPACE.dim), 2)
    assert new.shape == (2, SPACE.dim)
    assert not {tuple(r) for r in X.tolist()} & {tuple(r) for r in new.tolist()}
