"""Hypervolume vs evaluations: BoTorch qLogNEHVI (ours) vs Optuna samplers at equal budgets.

    python benchmarks/bench_optimizer.py --problems branin_currin c2_dtlz2 --seeds 2 --evals 30

Writes `runs/benchmarks/bench_optimizer.json` (per problem and sampler: HV per evaluation for every
seed, final mean and sd, fraction of max HV where known) and a PNG of mean +- sd HV per problem,
plus the time of one `botorch` proposal at `--time-at` (100) observations on the mv2 problem.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mv2search.search.backends import BACKENDS, make_proposer
from mv2search.search.loop import optimize
from mv2search.search.problems import PROBLEMS

OUT = Path("runs/benchmarks")


def run_problem(name: str, samplers: list[str], seeds: int, evals: int) -> dict:
    """HV traces of every sampler on one problem."""
    problem = PROBLEMS[name]()
    result = {"max_hv": problem.max_hv, "objectives": list(problem.objectives.names)}
    for sampler in samplers:
        traces, start = [], time.perf_counter()
        for seed in range(seeds):
            traces.append(optimize(problem, sampler, evals, seed=seed).hypervolume)
        finals = [t[-1] for t in traces]
        result[sampler] = {
            "hv": traces,
            "final_mean": statistics.mean(finals),
            "final_sd": statistics.stdev(finals) if len(finals) > 1 else 0.0,
            "wall_s": time.perf_counter() - start,
        }
        if problem.max_hv:
            result[sampler]["final_fraction"] = result[sampler]["final_mean"] / problem.max_hv
        print(
            f"{name:14s} {sampler:10s} HV {result[sampler]['final_mean']:.4f} "
            f"+- {result[sampler]['final_sd']:.4f}  ({result[sampler]['wall_s']:.0f} s)",
            flush=True,
        )
    return result


def time_proposal(k: int) -> float:
    """Seconds for one botorch proposal with `k` observations on the mv2 problem."""
    problem = PROBLEMS["mv2"]()
    X = problem.space.sample_encoded(4 * k, seed=1)
    X = torch.stack([x for x in X if problem.is_feasible is None or problem.is_feasible(x)][:k])
    Y = problem.objectives.metrics_tensor([problem.evaluate(x) for x in X])
    proposer = make_proposer(
        "botorch", problem.space, problem.objectives, 0, is_feasible=problem.is_feasible
    )
    start = time.perf_counter()
    proposer.propose(X, problem.objectives.to_max(Y), torch.empty(0, X.shape[-1]), 1)
    return time.perf_counter() - start


def plot(results: dict, path: Path) -> None:
    """Mean +- sd HV vs evaluations, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        for sampler, data in res.items():
            if not isinstance(data, dict):
                continue
            hv = torch.tensor(data["hv"])
            mean, sd = hv.mean(0), hv.std(0) if hv.shape[0] > 1 else torch.zeros(hv.shape[1])
            steps = range(1, hv.shape[1] + 1)
            ax.plot(steps, mean, label=sampler)
            ax.fill_between(steps, mean - sd, mean + sd, alpha=0.2)
        if res.get("max_hv"):
            ax.axhline(res["max_hv"], color="k", ls="--", lw=0.8)
        ax.set(title=name, xlabel="evaluations", ylabel="hypervolume")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    """Parse flags, run, write JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--samplers", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=50)
    parser.add_argument("--time-at", type=int, default=100, help="observations for the timing")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {
        name: run_problem(name, args.samplers, args.seeds, args.evals) for name in args.problems
    }
    seconds = time_proposal(args.time_at) if args.time_at else None
    print(f"botorch proposal at {args.time_at} observations (mv2): {seconds:.2f} s")
    payload = {
        "args": vars(args),
        "proposal_s": seconds,
        "threads": torch.get_num_threads(),
        "results": results,
    }
    (OUT / "bench_optimizer.json").write_text(json.dumps(payload, indent=1))
    plot(results, OUT / "bench_optimizer.png")


if __name__ == "__main__":
    main()
