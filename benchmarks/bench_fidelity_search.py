"""Multi-fidelity search against its anchors at equal compute: a synthetic learning-curve task,
and a real reduced search over a pool of trained specs.

    python benchmarks/bench_fidelity_search.py                  # 5 seeds
    python benchmarks/bench_fidelity_search.py --seeds 1 --budget 10   # a smoke test
    python benchmarks/bench_fidelity_search.py --pool 48 --seeds 5 --n-initial 6   # the real one

`--pool N`: the first N specs of `bench_fidelity.py`'s draw, trained once (seed 0) on 10,000
embedded images along the `wsd` ladder (31/62/125/250 steps) and with the old proxy; every method
looks their scores and measured CPU-seconds up (`benchmarks/fidelity_pool.py`, which says how to
build the pool), its proposals restricted to the pool; the seeds are the methods' own. The
objectives: top-1 on 1,000 validation images (max) and exact GMACs (min), reference point (0.5,
0.55). Writes `runs/benchmarks/bench_fidelity_search_pool<N>.{json,png}`. The rest of this
docstring describes the synthetic problem; the methods are the same on both.

The problem (`mv2search.search.problems.learning_curves`, noise sd 0.005): accuracy along a
learning curve whose low-fidelity ranking differs from the asymptotic one (larger specs reach a
higher accuracy but learn slower), against a MACs-like cost. Training a spec to a fraction `s` of
the top rung costs `s x (0.25 + gmacs)` CPU-seconds (a larger network's step costs more); a
promotion continues the run, so it costs only the steps it adds. Two workers, asynchronous, on a
simulated clock: a worker takes its next job as soon as its last one ends.

Methods (rungs `s` = 1/8, 1/4, 1/2, 1; eta 2):

- `sf_proxy`: single-fidelity qLogNEHVI (`botorch`), every candidate at the old proxy's share of
  the top rung (`s` = 1/4: 62 of 250 steps);
  `sf_proxy_front` the same search measured on the specs of its own front at the proxy (what it
  would export), scored at the top rung;
- `sf_top`: single-fidelity qLogNEHVI, every candidate at the top rung;
- `ours`: asynchronous successive halving (`mv2search.search.promotion`) with the fidelity-aware
  qLogNEHVI proposals the search uses (`propose(..., fidelity=...)`), the multi-fidelity GP
  (`fidelity_model=multi_fidelity`); `ours_hr` the same with the GP on each spec's highest rung
  (`fidelity_model=highest_rung`);
- `moasha`: Syne Tune 0.16's `MOASHA` scheduler with its own random proposals, the same rungs and
  eta (`pip install "syne-tune==0.16.*"`, or `pip install -e ".[bench]"`).

The measure: the hypervolume of the top-rung accuracy and the cost of the specs a method trained
to the top rung, against the CPU-seconds of its finished jobs; for `sf_proxy`, of every spec it
evaluated, scored at the top rung for free (it never trains one there: the most generous reading).
Proposal time is not counted (it is measured by `bench_optimizer.py --time-at`). Targets (issue
15): ours reaches `sf_top`'s final hypervolume in at most a third of its CPU-seconds, and at equal
CPU-seconds it is ahead of MOASHA.

`--curves agree` makes every spec learn at the same rate (low rungs rank as the top one does).
Writes `runs/benchmarks/bench_fidelity_search{,_agree}.{json,png}`.
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mv2search.files import write_json
from mv2search.search.optimizers import make_optimizer
from mv2search.search.problems import Problem, learning_curves
from mv2search.search.promotion import RungEntry, promotable

OUT = Path("runs/benchmarks")
RUNGS = (1 / 8, 1 / 4, 1 / 2, 1.0)
ETA = 2
PROXY_S = 1 / 4
PROXY_RUNG = RUNGS.index(PROXY_S)  # the ladder's rung that stands for the old proxy


@dataclass
class Job:
    """Training `x` to rung `rung`, continuing from rung `start` (None: a new run)."""

    x: torch.Tensor
    rung: int
    start: int | None = None
    proxy: bool = False  # the old proxy's recipe instead of the ladder (`sf_proxy`)
    tag: Any = None  # what the method needs back (a MOASHA trial)


class CurveTask:
    """The synthetic problem's scores and costs: a job to fidelity `s` from `s0` costs
    `(s - s0) x (0.25 + gmacs)` CPU-seconds; the old proxy is the rung at `PROXY_S`."""

    def __init__(self, problem: Problem) -> None:
        self.problem, self.space = problem, problem.space

    def score(self, x: torch.Tensor, rung: int, proxy: bool = False) -> dict[str, float]:
        return self.problem.evaluate(x, PROXY_S if proxy else RUNGS[rung])

    def cost(self, x: torch.Tensor, rung: int, start: int | None, proxy: bool = False) -> float:
        s = PROXY_S if proxy else RUNGS[rung]
        s0 = 0.0 if start is None else RUNGS[start]
        return (s - s0) * (0.25 + self.problem.evaluate(x, 1.0)["gmacs"])


# What a method needs of its problem (`CurveTask`, or `fidelity_pool.PoolTask`): `problem`,
# `space`, `score(x, rung, proxy)` -> metrics in own units, `cost(x, rung, start, proxy)`.
Task = Any


@dataclass
class Run:
    """One method's finished jobs: (CPU-seconds so far, top-rung hypervolume) after each."""

    cpu_s: list[float] = field(default_factory=list)
    hypervolume: list[float] = field(default_factory=list)
    n_jobs: int = 0
    n_top: int = 0
    n_specs: int = 0  # specs trained at all


class Method:
    """What every method does: give the next job, take a finished one, say the top-rung set."""

    def __init__(self, task: Task, seed: int, n_initial: int | None = None) -> None:
        self.task, self.problem, self.seed = task, task.problem, seed
        self.n_initial = n_initial
        self.top: list[list[float]] = []  # metrics (own units) at the top rung of "found" specs
        self.started: set[str] = set()  # specs trained at all (keys)

    def next_job(self, running: list[Job]) -> Job | None:
        """The next job (None: nothing left to propose)."""
        raise NotImplementedError

    def finished(self, job: Job, metrics: dict[str, float]) -> None:
        raise NotImplementedError

    def hypervolume(self) -> float:
        objectives = self.problem.objectives
        if not self.top:
            return 0.0
        return objectives.hypervolume(torch.tensor(self.top, dtype=torch.float64))

    def _metrics_row(self, metrics: dict[str, float]) -> list[float]:
        return [metrics[n] for n in self.problem.objectives.names]

    def _optimizer(self, **options: Any) -> Any:
        return make_optimizer(
            "botorch",
            self.task.space,
            self.problem.objectives,
            self.seed,
            n_initial=self.n_initial,
            **options,
        )


class SingleFidelity(Method):
    """qLogNEHVI proposals, every candidate trained once to rung `rung` (or the old proxy)."""

    def __init__(
        self,
        task: Task,
        seed: int,
        rung: int,
        proxy: bool = False,
        n_initial: int | None = None,
        own_front: bool = False,
    ) -> None:
        super().__init__(task, seed, n_initial)
        self.rung, self.proxy = rung, proxy
        # measured on the specs of its own front (at its fidelity), scored at the top rung: what
        # it would export; else every spec it evaluated, at the top rung
        self.own_front = own_front
        self.optimizer = self._optimizer()
        d, m = task.space.dim, self.problem.objectives.m
        self.X, self.Y = torch.empty(0, d, dtype=torch.float64), torch.empty(0, m).double()

    def next_job(self, running: list[Job]) -> Job | None:
        pending = _stack([j.x for j in running], self.task.space.dim)
        Y = self.problem.objectives.to_max(self.Y)
        x = self.optimizer.propose(self.X, Y, pending, 1)
        if x.shape[0] == 0:
            return None
        self.started.add(_key(x[0]))
        return Job(x[0], self.rung, proxy=self.proxy)

    def finished(self, job: Job, metrics: dict[str, float]) -> None:
        self.X = torch.cat([self.X, job.x.unsqueeze(0)])
        self.Y = torch.cat([self.Y, torch.tensor([self._metrics_row(metrics)]).double()])
        # below the top rung: scored at the top rung for free (the most generous reading)
        self.top.append(self._metrics_row(self.task.score(job.x, len(RUNGS) - 1)))

    def hypervolume(self) -> float:
        if not self.own_front or not self.top:
            return super().hypervolume()
        front = self.problem.objectives.pareto_mask(self.Y)
        top = torch.tensor(self.top, dtype=torch.float64)[front]
        return self.problem.objectives.hypervolume(top)


class Ours(Method):
    """Asynchronous successive halving with fidelity-aware qLogNEHVI proposals."""

    def __init__(
        self,
        task: Task,
        seed: int,
        model: str = "multi_fidelity",
        n_initial: int | None = None,
    ) -> None:
        super().__init__(task, seed, n_initial)
        self.optimizer = self._optimizer(fidelity_model=model)
        self.rows: list[tuple[torch.Tensor, int, list[float]]] = []  # x, rung, metrics
        self.taken: set[tuple[str, int]] = set()
        ref = torch.tensor([self.problem.objectives.reference_point], dtype=torch.float64)
        self.reference = self.problem.objectives.to_max(ref)[0].tolist()

    def next_job(self, running: list[Job]) -> Job | None:
        entries = [
            RungEntry(_key(x), rung, tuple(self._max(m)), i)
            for i, (x, rung, m) in enumerate(self.rows)
        ]
        due = promotable(entries, ETA, len(RUNGS) - 1, self.taken, self.reference)
        if due:
            x = next(x for x, rung, _ in self.rows if _key(x) == due[0].signature)
            self.taken.add((due[0].signature, due[0].rung))
            return Job(x, due[0].rung, start=due[0].rung - 1)
        d = self.task.space.dim
        X = _stack([x for x, _, _ in self.rows], d)
        Y = torch.tensor([self._max(m) for _, _, m in self.rows], dtype=torch.float64)
        Y = Y.reshape(-1, self.problem.objectives.m)
        fidelity = torch.tensor([RUNGS[r] for _, r, _ in self.rows], dtype=torch.float64)
        pending = _stack([j.x for j in running], d)
        x = self.optimizer.propose(X, Y, pending, 1, fidelity=fidelity)
        if x.shape[0] == 0:
            return None
        self.taken.add((_key(x[0]), 0))
        self.started.add(_key(x[0]))
        return Job(x[0], 0)

    def finished(self, job: Job, metrics: dict[str, float]) -> None:
        self.rows.append((job.x, job.rung, self._metrics_row(metrics)))
        if job.rung == len(RUNGS) - 1:
            self.top.append(self._metrics_row(metrics))

    def _max(self, row: list[float]) -> list[float]:
        return self.problem.objectives.to_max(torch.tensor([row], dtype=torch.float64))[0].tolist()


class MoAsha(Method):
    """Syne Tune's MOASHA (its random proposals): a trial runs on until the scheduler stops it.

    On a pool the configuration is a member's index (a `choice`); a member already started is
    drawn again, so its proposals are random draws without replacement."""

    def __init__(self, task: Task, seed: int, n_initial: int | None = None) -> None:
        super().__init__(task, seed)
        from syne_tune.backend.trial_status import Trial
        from syne_tune.config_space import choice, uniform
        from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

        self._trial = Trial
        self.members = getattr(task.space, "members", None)
        if self.members is not None:
            space = {"member": choice(list(range(len(self.members))))}
        else:
            lo, hi = task.space.bounds.tolist()
            space = {f"x{i}": uniform(a, b) for i, (a, b) in enumerate(zip(lo, hi, strict=True))}
        np.random.seed(seed)  # MOASHA draws brackets and configs from numpy's global state
        self.scheduler = MOASHA(
            space,
            metrics=["error", "cost"],
            do_minimize=True,
            time_attr="level",
            max_t=2 ** (len(RUNGS) - 1),
            grace_period=1,
            reduction_factor=ETA,
            random_seed=seed,
        )
        self.n_trials = 0
        self.go_on: list[Job] = []  # trials the scheduler told to continue

    def next_job(self, running: list[Job]) -> Job | None:
        if self.go_on:
            job = self.go_on.pop(0)
            return Job(job.x, job.rung + 1, start=job.rung, tag=job.tag)
        if self.members is not None and len(self.started) == len(self.members):
            return None
        while True:
            config = self.scheduler.suggest().config
            x = self._encode(config)
            if _key(x) not in self.started:
                break
        trial = self._trial(trial_id=self.n_trials, config=config, creation_time=None)
        self.n_trials += 1
        self.scheduler.on_trial_add(trial)
        self.started.add(_key(x))
        return Job(x, 0, tag=trial)

    def finished(self, job: Job, metrics: dict[str, float]) -> None:
        accuracy, cost = self._metrics_row(metrics)
        result = {"level": 2**job.rung, "error": -accuracy, "cost": cost}
        decision = self.scheduler.on_trial_result(job.tag, result)
        if job.rung == len(RUNGS) - 1:
            self.top.append([accuracy, cost])
        elif decision == "CONTINUE":
            self.go_on.append(job)

    def _encode(self, config: dict[str, Any]) -> torch.Tensor:
        if self.members is not None:
            return self.members[config["member"]].clone()
        x = torch.tensor([config[f"x{i}"] for i in range(len(config))], dtype=torch.float64)
        return self.task.space.snap(x)


def job_cost(task: Task, job: Job) -> float:
    """CPU-seconds of a job (what it adds to the spec's run)."""
    return task.cost(job.x, job.rung, job.start, job.proxy)


def simulate(method: Method, budget: float, workers: int = 2) -> Run:
    """Run `method` on `workers` simulated workers until `budget` CPU-seconds are started
    (or it has nothing left to propose)."""
    task, run = method.task, Run()
    events: list[tuple[float, int, int, Job]] = []  # (end time, order, worker, job)
    started, order, spent = 0.0, 0, 0.0

    def start(worker: int, now: float) -> None:
        nonlocal started, order
        running = [e[3] for e in events]
        job = method.next_job(running)
        if job is None:
            return
        cost = job_cost(task, job)
        started += cost
        order += 1
        heapq.heappush(events, (now + cost, order, worker, job))

    for worker in range(workers):
        start(worker, 0.0)
    while events:
        now, _, worker, job = heapq.heappop(events)
        method.finished(job, task.score(job.x, job.rung, job.proxy))
        spent += job_cost(task, job)
        run.n_jobs += 1
        run.cpu_s.append(spent)
        run.hypervolume.append(method.hypervolume())
        if started < budget:
            start(worker, now)
    run.n_top = len(method.top)
    run.n_specs = len(method.started)
    return run


METHODS: dict[str, Callable[..., Method]] = {
    "sf_proxy": lambda t, s, n: SingleFidelity(t, s, PROXY_RUNG, proxy=True, n_initial=n),
    "sf_proxy_front": lambda t, s, n: SingleFidelity(
        t, s, PROXY_RUNG, proxy=True, n_initial=n, own_front=True
    ),
    "sf_top": lambda t, s, n: SingleFidelity(t, s, len(RUNGS) - 1, n_initial=n),
    "ours": lambda t, s, n: Ours(t, s, "multi_fidelity", n),
    "ours_hr": lambda t, s, n: Ours(t, s, "highest_rung", n),
    "moasha": lambda t, s, n: MoAsha(t, s),
}


def hv_at(run: Run, cpu_s: float) -> float:
    """The run's hypervolume once `cpu_s` CPU-seconds of jobs had finished."""
    i = np.searchsorted(run.cpu_s, cpu_s, side="right") - 1
    return run.hypervolume[i] if i >= 0 else 0.0


def time_to(run: Run, hv: float) -> float | None:
    """CPU-seconds at which the run first reached `hv` (None: never)."""
    return next((c for c, h in zip(run.cpu_s, run.hypervolume, strict=True) if h >= hv), None)


def main(argv: list[str] | None = None) -> int:
    """Run every method on every seed; print and write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="CPU-seconds per method (default: 40; with --pool, 10 runs to the top rung)",
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument(
        "--curves",
        choices=("cross", "agree"),
        default="cross",
        help="cross: larger specs learn slower (low rungs rank differently); agree: same ranking",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="the real reduced search over the trained pool of bench_fidelity.py --specs N "
        "(benchmarks/fidelity_pool.py; 0: the synthetic problem)",
    )
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="the pool's runs")
    parser.add_argument(
        "--n-initial",
        type=int,
        default=None,
        help="random proposals before the GP (default: the optimizer's, max(d + 1, 5))",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pool = None
    if args.pool:
        from fidelity_pool import PoolTask, load_pool

        pool = PoolTask(load_pool(args.pool, args.runs_dir), len(RUNGS))
        if args.budget is None:
            args.budget = 10 * float(np.mean([m.top_only_s for m in pool.members]))
    elif args.budget is None:
        args.budget = 40.0
    runs: dict[str, list[Run]] = {m: [] for m in args.methods}
    started = time.monotonic()
    for seed in range(args.seeds):
        if pool is not None:
            task = pool  # the table is fixed: the seed is the methods' own
        else:
            curves = learning_curves(agree=args.curves == "agree", noise_sd=args.noise, seed=seed)
            task = CurveTask(curves)
        for name in args.methods:
            t0 = time.monotonic()
            run = simulate(METHODS[name](task, seed, args.n_initial), args.budget)
            runs[name].append(run)
            print(
                f"seed {seed} {name:>8}: HV {run.hypervolume[-1]:.4f} after {run.cpu_s[-1]:.1f} "
                f"CPU-s, {run.n_jobs} jobs, {run.n_specs} specs, {run.n_top} at the top rung "
                f"[{time.monotonic() - t0:.0f} s]",
                flush=True,
            )
    summary = summarise(runs, args)
    summary["wall_s"] = time.monotonic() - started
    if pool is not None:
        summary["pool"] = pool_summary(pool)
        print(
            f"pool: {summary['pool']['members']} specs, HV of all at the top rung "
            f"{summary['pool']['max_hv']:.4f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench_fidelity_search" + _suffix(args)
    write_json(args.out / f"{stem}.json", summary)
    plot(runs, args, args.out / f"{stem}.png")
    for name, row in summary["methods"].items():
        print(
            f"{name:>8}: HV at 1/3, 2/3, all of the budget "
            + ", ".join(f"{m:.4f} +- {s:.4f}" for m, s in row["hv_at"])
        )
    for key, value in summary["targets"].items():
        print(f"{key}: {value}")
    return 0


def _suffix(args: argparse.Namespace) -> str:
    if args.pool:
        return f"_pool{args.pool}"
    return "" if args.curves == "cross" else "_agree"


def pool_summary(pool: Any) -> dict[str, Any]:
    """The pool's size, its best hypervolume (every member at the top rung) and costs."""
    members = pool.members
    return {
        "members": len(members),
        "max_hv": pool.problem.max_hv,
        "reference_point": list(pool.problem.objectives.reference_point),
        "mean_cpu_s": {
            "rungs": [float(np.mean([m.cum_s[k] for m in members])) for k in range(len(RUNGS))],
            "top_only": float(np.mean([m.top_only_s for m in members])),
            "old_proxy": float(np.mean([m.proxy_s for m in members])),
        },
        "top1": {m.name: list(m.top1) for m in members},
        "old_proxy_top1": {m.name: m.proxy_top1 for m in members},
    }


def summarise(runs: dict[str, list[Run]], args: argparse.Namespace) -> dict[str, Any]:
    """Per method: HV at a third, two thirds and all of the budget (mean, sd over seeds)."""
    marks = [args.budget / 3, 2 * args.budget / 3, args.budget]
    methods = {}
    for name, rs in runs.items():
        at = np.array([[hv_at(r, c) for c in marks] for r in rs])
        methods[name] = {
            "hv_at": [(float(m), float(s)) for m, s in zip(at.mean(0), at.std(0), strict=True)],
            "budget_marks": marks,
            "n_jobs": [r.n_jobs for r in rs],
            "n_top": [r.n_top for r in rs],
            "n_specs": [r.n_specs for r in rs],
            "traces": [{"cpu_s": r.cpu_s, "hypervolume": r.hypervolume} for r in rs],
        }
    targets: dict[str, Any] = {}
    for ours_name in ("ours", "ours_hr"):
        if ours_name in runs and "sf_top" in runs:
            fractions = []
            for ours, top in zip(runs[ours_name], runs["sf_top"], strict=True):
                reached = time_to(ours, top.hypervolume[-1])
                fractions.append(None if reached is None else reached / top.cpu_s[-1])
            targets[f"{ours_name}_cpu_to_sf_top_final_hv (fraction; target <= 1/3)"] = fractions
        if ours_name in runs and "moasha" in runs:
            wins = [
                hv_at(o, args.budget) > hv_at(m, args.budget)
                for o, m in zip(runs[ours_name], runs["moasha"], strict=True)
            ]
            targets[f"{ours_name}_ahead_of_moasha_at_budget (per seed)"] = wins
    return {"methods": methods, "targets": targets, "command": " ".join(sys.argv)}


def plot(runs: dict[str, list[Run]], args: argparse.Namespace, path: Path) -> None:
    """Mean top-rung hypervolume vs CPU-seconds per method."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    grid = np.linspace(0, args.budget, 200)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, rs in runs.items():
        curves = np.array([[hv_at(r, c) for c in grid] for r in rs])
        ax.plot(grid, curves.mean(0), label=name)
        ax.fill_between(grid, curves.min(0), curves.max(0), alpha=0.15)
    ax.set_xlabel("CPU-seconds of finished training jobs")
    ax.set_ylabel("top-rung hypervolume")
    problem = (
        f"mv2 pool of {args.pool} trained specs"
        if args.pool
        else f"learning_curves ({args.curves})"
    )
    ax.set_title(f"{problem}, {args.seeds} seeds (band: min-max)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _key(x: torch.Tensor) -> str:
    return ",".join(f"{v:.9f}" for v in x.tolist())


def _stack(rows: list[torch.Tensor], d: int) -> torch.Tensor:
    return torch.stack(rows).double() if rows else torch.empty(0, d, dtype=torch.float64)


if __name__ == "__main__":
    sys.exit(main())
