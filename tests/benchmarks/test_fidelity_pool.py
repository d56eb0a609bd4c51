"""The real reduced search's table (benchmarks/fidelity_pool.py) and its replay in
benchmarks/bench_fidelity_search.py: costs, the pool's space, methods that exhaust it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from mv2search.search.space import load_space
from mv2search.study.objectives import exact_metrics

# the benchmarks are scripts that import each other from their folder, as when run from it
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_fidelity_search as search_mod  # noqa: E402
import fidelity_pool as pool_mod  # noqa: E402

RUNGS = (31, 62, 125, 250)


def _rows(c: float, e: float) -> list[dict]:
    """Scored history rows of a ladder run costing `c` a step and `e` a scoring."""
    rows, wall, last = [], 0.0, 0
    for step in RUNGS:
        decay = max(1, round(0.2 * step))
        wall += (step - last + decay) * c + e
        rows.append({"step": step, "decay_steps": decay, "wall_s": wall})
        last = step
    return rows


def test_top_only_cost_recovers_step_and_scoring_costs():
    # (250 + 50) x 0.5 + 3: what one run straight to 250 steps pays, without the lower branches
    assert pool_mod.top_only_cost(_rows(0.5, 3.0)) == pytest.approx(153.0)
    assert pool_mod.top_only_cost(_rows(0.5, 3.0)) < _rows(0.5, 3.0)[-1]["wall_s"]


def _pool(n: int = 10, seed: int = 0) -> list:
    """`n` members of mv2 within 0.5 GMACs, accuracies made up per rung (rising, and higher for
    larger MACs), the old proxy's lower for larger MACs (it ranks otherwise), costs from `_rows`
    scaled by MACs."""
    space, members = load_space("mv2"), []
    for spec in space.sample(20 * n, seed=seed):
        gmacs = exact_metrics(spec, ("gmacs",))["gmacs"]
        if gmacs > 0.5 or any(torch.equal(space.encode(spec), m.x) for m in members):
            continue
        k = len(members)
        top1 = tuple(0.3 + 0.1 * r + 0.4 * gmacs + 0.01 * ((k * 7) % 5) for r in range(4))
        rows = _rows(0.2 + gmacs, 2.0)
        members.append(
            pool_mod.Member(
                f"s{k:02d}",
                space.encode(spec),
                gmacs,
                top1,
                tuple(r["wall_s"] for r in rows),
                pool_mod.top_only_cost(rows),
                0.5 - 0.2 * gmacs + 0.001 * k,
                10.0,
            )
        )
        if len(members) == n:
            break
    return members


def test_pool_space_samples_and_snaps_to_members():
    task = pool_mod.PoolTask(_pool(), 4)
    space, members = task.space, task.space.members
    drawn = space.sample_encoded(512, seed=3)
    assert drawn.shape == members.shape
    assert {tuple(r) for r in drawn.tolist()} == {tuple(r) for r in members.tolist()}
    assert torch.equal(drawn, space.sample_encoded(512, seed=3))
    assert not torch.equal(drawn, space.sample_encoded(512, seed=4))
    assert space.sample_encoded(3, seed=3).shape == (3, space.dim)
    width = space.bounds[1] - space.bounds[0]
    assert torch.equal(space.snap(members[4] + 0.01 * width), members[4])
    assert torch.equal(space.snap(members), members)


def test_costs_continue_and_top_only_runs_skip_lower_branches():
    task = pool_mod.PoolTask(_pool(), 4)
    m = task.members[2]
    steps = [task.cost(m.x, 0, None)] + [task.cost(m.x, r, r - 1) for r in (1, 2, 3)]
    assert sum(steps) == pytest.approx(m.cum_s[-1])  # promotions pay only what they add
    assert task.cost(m.x, 3, None) == pytest.approx(m.top_only_s)
    assert m.top_only_s < m.cum_s[-1]
    assert task.cost(m.x, 1, None, proxy=True) == 10.0
    assert task.score(m.x, 1, proxy=True)["accuracy"] == m.proxy_top1
    assert task.score(m.x, 2) == {"accuracy": m.top1[2], "gmacs": m.gmacs}


@pytest.mark.parametrize("name", ["sf_top", "ours_hr"])
def test_a_method_that_exhausts_the_pool_finds_its_whole_front(name):
    """With more budget than the pool costs, single fidelity trains every member once and
    stops; halving trains every member at rung 0 and stops when nothing is due. Either way
    its hypervolume is exactly that of the pool's top rung when every member reached it."""
    task = pool_mod.PoolTask(_pool(8), 4)
    method = search_mod.METHODS[name](task, 0, 3)
    run = search_mod.simulate(method, budget=1e9)
    assert run.n_specs == len(task.members)
    if name == "sf_top":
        assert run.n_jobs == run.n_top == len(task.members)
        assert run.hypervolume[-1] == pytest.approx(task.problem.max_hv)
        assert run.cpu_s[-1] == pytest.approx(sum(m.top_only_s for m in task.members))
    else:
        reached = {}
        for x, rung, _ in method.rows:
            key = search_mod._key(x)
            reached[key] = max(reached.get(key, 0), rung)
        spent = sum(task.member(x).cum_s[reached[search_mod._key(x)]] for x in task.space.members)
        assert run.cpu_s[-1] == pytest.approx(spent)
        assert len(method.rows) == len({(search_mod._key(x), r) for x, r, _ in method.rows})
        assert 0 < run.hypervolume[-1] <= task.problem.max_hv + 1e-12


def test_moasha_draws_members_without_repeats():
    pytest.importorskip("syne_tune")
    task = pool_mod.PoolTask(_pool(8), 4)
    method = search_mod.METHODS["moasha"](task, 1, None)
    run = search_mod.simulate(method, budget=1e9)
    assert run.n_specs == len(task.members)  # every member once, then nothing left
    assert run.n_jobs >= len(task.members)


def test_a_pool_with_too_few_trained_specs_names_the_command(tmp_path):
    with pytest.raises(SystemExit, match="build the pool"):
        pool_mod.load_pool(10, tmp_path)


def test_the_proxy_search_read_on_its_own_front():
    """`sf_proxy_front`, having evaluated the whole pool, is measured on the members of its
    proxy-accuracy front scored at the top rung: no more than every member at the top."""
    task = pool_mod.PoolTask(_pool(8), 4)
    run = search_mod.simulate(search_mod.METHODS["sf_proxy_front"](task, 0, 3), budget=1e9)
    objectives, members = task.problem.objectives, task.members
    proxy = torch.tensor([[m.proxy_top1, m.gmacs] for m in members], dtype=torch.float64)
    top = torch.tensor([[m.top1[-1], m.gmacs] for m in members], dtype=torch.float64)
    expected = objectives.hypervolume(top[objectives.pareto_mask(proxy)])
    assert run.n_specs == len(members)
    assert run.hypervolume[-1] == pytest.approx(expected)
    assert expected < task.problem.max_hv  # the proxy's front is not the top rung's
