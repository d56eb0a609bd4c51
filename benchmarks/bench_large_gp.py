"""Large histories: the exact GP vs the subset GP (`optimizer.options.large_data`) on HV and time.

    OMP_NUM_THREADS=1 python benchmarks/bench_large_gp.py                 # mv2, 3 seeds
    OMP_NUM_THREADS=1 python benchmarks/bench_large_gp.py --problems mv2_3obj dtlz2 --seeds 3
    OMP_NUM_THREADS=1 python benchmarks/bench_large_gp.py --time-only --time-at 500 1000

Hypervolume: per problem and seed, both modes start from the same `--start` feasible
scrambled-Sobol observations (seeded by the seed) and then make `--steps` proposals each, one
at a time (`n = 1`, no pending), with the same optimizer seed; HV of the whole history at
`--checkpoints` evenly spaced steps, and the median seconds per proposal. An exact GP on 1,000
observations takes 15-50 s a proposal here, so the HV runs start from a large history instead
of growing one: `--start 400 --steps 50` compares the two on the proposals from 400 to 450.

Time: `--time-at` observations (feasible Sobol points of the problem), the protocol of
`bench_optimizer.time_proposals`: a proposal at `k - 1` (a cold fit), then the timed one at `k`
(its fit warm-started), `--time-repeats` rounds with seeds `1 ..`, after one warm-up proposal
at 50 observations.

Problems: `mv2` (synthetic accuracy vs exact GMACs under a 2 GMACs budget, d = 14), `mv2_3obj`
(the same plus exact millions of parameters, min: three objectives without a latency table),
`dtlz2` (d = 6, m = 2, max HV 0.4246). Writes `runs/benchmarks/bench_large_gp.json` after
every run; prints per seed and mode the HV at the checkpoints, the subset's HV minus the
exact's, and the time ratio exact / subset. Nothing is asserted: the figures go to the README.

Keep one thread (OMP_NUM_THREADS=1): on a shared machine intra-op threads slowed the GP work.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from mv2search.cost import count_params
from mv2search.files import write_json
from mv2search.search.problems import Problem, dtlz2, mv2_problem
from mv2search.study.objectives import Objective, Objectives

OUT = Path("runs/benchmarks")
MODES = ("exact", "subset")


def mv2_3obj() -> Problem:
    """`mv2_problem()` (2 GMACs budget) with millions of parameters as a third objective."""
    problem = mv2_problem(latency_store=None)
    base = problem.objectives
    goals = Objectives(
        [*base.objectives, Objective("mparams", "min")],
        [*base.reference_point, 20.0],
        list(base.budgets),
    )
    evaluate = problem.evaluate

    def with_params(x: torch.Tensor) -> dict[str, float]:
        return {**evaluate(x), "mparams": count_params(problem.space.decode(x)) / 1e6}

    problem.name, problem.objectives, problem.evaluate = "mv2_3obj", goals, with_params
    return problem


PROBLEMS = {"mv2": lambda: mv2_problem(latency_store=None), "mv2_3obj": mv2_3obj, "dtlz2": dtlz2}


def start_history(problem: Problem, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`k` feasible scrambled-Sobol points of `problem` (`k x d`) and their metrics (`k x m`)."""
    X = problem.feasible_sample(k, seed).double()
    return X, problem.objectives.metrics_tensor([problem.evaluate(x) for x in X])


def _optimizer(problem: Problem, seed: int, mode: str, size: int) -> Any:
    return problem.optimizer("botorch", seed, large_data=mode, large_data_after=size)


def continue_search(problem: Problem, seed: int, mode: str, args: Any) -> dict[str, Any]:
    """`args.steps` proposals of one mode from the seed's start history.

    Returns:
        `hv` at the checkpoints (steps `0, ..`), `checkpoints`, `propose_s` (every step),
        `median_s`, `feasible` (every proposal inside the problem's constraints).
    """
    X, Y = start_history(problem, args.start, 1000 + seed)
    objectives, optimizer = problem.objectives, _optimizer(problem, seed, mode, args.size)
    marks = checkpoints(args.steps, args.checkpoints)
    hv, seconds, feasible = [], [], True
    for step in range(args.steps + 1):
        if step in marks:
            hv.append(objectives.hypervolume(Y))
        if step == args.steps:
            break
        start = time.perf_counter()
        x = optimizer.propose(X, objectives.to_max(Y), torch.empty(0, X.shape[-1]), 1)[0]
        seconds.append(time.perf_counter() - start)
        feasible &= problem.is_feasible is None or problem.is_feasible(x)
        X = torch.cat([X, x.unsqueeze(0)])
        Y = torch.cat([Y, objectives.metrics_tensor([problem.evaluate(x)])])
    median = statistics.median(seconds) if seconds else 0.0
    return {
        "hv": hv,
        "checkpoints": marks,
        "propose_s": seconds,
        "median_s": median,
        "feasible": feasible,
    }


def checkpoints(steps: int, count: int) -> list[int]:
    """`count + 1` evenly spaced steps from 0 to `steps` (at most one per step)."""
    return sorted({round(i * steps / count) for i in range(count + 1)})


def time_at(problem: Problem, k: int, mode: str, args: Any) -> dict[str, Any]:
    """Seconds of one proposal at `k` observations (module docstring's protocol).

    Returns:
        `median_s`, `all_s`, `cold_s` (the proposals at `k - 1`), `k`, `mode`.
    """
    X, Y = start_history(problem, k, 1)
    Y, pending = problem.objectives.to_max(Y), torch.empty(0, X.shape[-1])
    seconds, cold = [], []
    for seed in range(1, args.time_repeats + 1):
        optimizer = _optimizer(problem, seed, mode, args.size)
        start = time.perf_counter()
        optimizer.propose(X[:-1], Y[:-1], pending, 1)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        optimizer.propose(X, Y, pending, 1)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"median_s": median, "all_s": seconds, "cold_s": cold, "k": k, "mode": mode}


def _report_hv(name: str, seed: int, runs: dict[str, Any], max_hv: float | None) -> None:
    exact, subset = runs["exact"], runs["subset"]
    scale = max_hv or 1.0
    for mode, run in runs.items():
        row = " ".join(f"{v / scale:.4f}" for v in run["hv"])
        label = "HV/max" if max_hv else "HV"
        timing = f"{run['median_s']:.2f} s/proposal, feasible {run['feasible']}"
        print(f"{name:9s} seed {seed} {mode:6s} {label} {row}  [{timing}]", flush=True)
    gap = (subset["hv"][-1] - exact["hv"][-1]) / scale
    ratio = exact["median_s"] / max(subset["median_s"], 1e-9)
    print(f"{name:9s} seed {seed} subset - exact final {gap:+.4f}, time exact/subset {ratio:.1f}x")


def summarise(result: dict[str, Any], max_hv: float | None) -> dict[str, Any]:
    """Mean HV per checkpoint and mode, the mean final gap and the median time ratio."""
    runs = result["seeds"]
    out: dict[str, Any] = {}
    for mode in MODES:
        hv = torch.tensor([r[mode]["hv"] for r in runs.values()], dtype=torch.float64)
        out[f"{mode}_mean_hv"] = (hv.mean(0) / (max_hv or 1.0)).tolist()
        out[f"{mode}_median_s"] = statistics.median(r[mode]["median_s"] for r in runs.values())
    gaps = [r["subset"]["hv"][-1] - r["exact"]["hv"][-1] for r in runs.values()]
    out["final_gap_mean"] = statistics.mean(gaps) / (max_hv or 1.0)
    out["time_ratio"] = out["exact_median_s"] / max(out["subset_median_s"], 1e-9)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["mv2"], choices=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--start", type=int, default=400, help="observations before the runs")
    parser.add_argument("--steps", type=int, default=50, help="proposals per run")
    parser.add_argument("--checkpoints", type=int, default=5, help="HV checkpoints after 0")
    parser.add_argument("--size", type=int, default=300, help="optimizer.options.large_data_after")
    parser.add_argument("--time-at", type=int, nargs="*", default=[500, 1000])
    parser.add_argument("--time-repeats", type=int, default=1)
    parser.add_argument("--time-only", action="store_true", help="only the timing")
    parser.add_argument("--out", type=Path, default=OUT)
    return parser


def main() -> None:
    """Parse flags, run the HV comparison and the timing, write JSON."""
    args = _parser().parse_args()
    torch.set_num_threads(1)
    path = args.out / "bench_large_gp.json"
    payload: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    for name in args.problems:
        problem = PROBLEMS[name]()
        if not args.time_only:
            result: dict[str, Any] = {"seeds": {}}
            for seed in range(args.seeds):
                runs = {mode: continue_search(problem, seed, mode, args) for mode in MODES}
                result["seeds"][seed] = runs
                _report_hv(name, seed, runs, problem.max_hv)
                payload[name] = result
                write_json(path, payload)
            result["summary"] = summarise(result, problem.max_hv)
            print(name, "summary", result["summary"], flush=True)
        if args.time_at:
            time_at(problem, 50, "exact", args)  # warm-up: imports, first-call allocations
            timing = {}
            for k in args.time_at:
                for mode in MODES:
                    timing[f"{mode}_{k}"] = value = time_at(problem, k, mode, args)
                    cold = statistics.median(value["cold_s"])
                    print(
                        f"{name:9s} proposal at {k} ({mode}): {value['median_s']:.2f} s "
                        f"(at k - 1, a cold fit: {cold:.2f} s)",
                        flush=True,
                    )
            payload.setdefault(name, {})["timing"] = timing
        write_json(path, payload)


if __name__ == "__main__":
    main()
