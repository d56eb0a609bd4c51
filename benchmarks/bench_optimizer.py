"""Hypervolume vs evaluations: BoTorch qLogNEHVI (ours) vs Optuna samplers at equal budgets.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_optimizer.py
    python benchmarks/bench_optimizer.py --problems branin_currin c2_dtlz2 --seeds 2 --evals 30
    python benchmarks/bench_optimizer.py --time-only --threads 2   # proposal time only

`--time-only` times two and three objectives (three when the latency table covers the space,
else that row is skipped), each with the single-fidelity model and with each fidelity-aware
model (`BoTorchOptions.fidelity_model`) on a successive-halving history of as many rows.

Every optimizer gets the same problems, seeds and number of evaluations, one proposal at a time,
and a constrained problem's exact constraints both as a filter and as values (`constraint`: the
Optuna samplers that read constraints are told them). Writes `runs/benchmarks/bench_optimizer.json`
(per problem and optimizer: HV after every evaluation for every seed, final mean and sd, fraction
of the maximum (feasible) HV where known (OSY has none), wall time and, for the Optuna samplers,
per seed the candidates filled from the Sobol fallback and the asks told as infeasible)
and `bench_optimizer.png` (mean +- sd HV per problem), then times `--time-repeats` botorch
proposals at `--time-at` observations on the mv2 problem (median, after one warm-up call) and
checks the targets: at least 95 % of the max feasible HV on C2-DTLZ2, ahead of every Optuna
sampler on every problem (mean final HV), and a median proposal under 2 s.

Keep `--threads` at 1 (and OMP/MKL_NUM_THREADS=1) on a shared machine: oversubscribed intra-op
threads slowed the GP work 10-40x here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from mv2search.search.loop import optimize
from mv2search.search.optimizers import OPTIMIZERS
from mv2search.search.optimizers.fidelity import FIDELITY_MODELS
from mv2search.search.problems import PROBLEMS, mv2_problem

C2_TARGET = 0.95  # fraction of the max feasible HV on C2-DTLZ2 (BoTorch's constrained tutorial)
PROPOSAL_TARGET_S = 2.0


def run_problem(name: str, samplers: list[str], seeds: int, evals: int) -> dict[str, Any]:
    """HV traces of every sampler on one problem.

    Args:
        name: A key of `PROBLEMS`.
        samplers: Backend names.
        seeds: Seeds `0 .. seeds - 1` per sampler.
        evals: Evaluations per run.

    Returns:
        `max_hv`, `objectives`, `notes` and, per sampler, `hv` (`seeds x evals`), `final_mean`,
        `final_sd`, `final_fraction` (when `max_hv` is known), `wall_s`, `propose_s_median` and,
        where the optimizer counts them, `fallback` and `infeasible_asks` (one count per seed).
    """
    problem = PROBLEMS[name]()
    notes = {k: str(v) for k, v in problem.notes.items()}
    result: dict[str, Any] = {
        "max_hv": problem.max_hv,
        "objectives": list(problem.objectives.names),
        "notes": notes,
    }
    for sampler in samplers:
        traces, propose_s, counts, start = [], [], [], time.perf_counter()
        for seed in range(seeds):
            optimizer = problem.optimizer(sampler, seed)
            trace = optimize(problem, optimizer, evals, seed=seed)
            traces.append(trace.hypervolume)
            propose_s.extend(trace.propose_s)
            counts.append([getattr(optimizer, k, None) for k in ("n_fallback", "n_infeasible")])
        finals = [t[-1] for t in traces]
        entry = {
            "hv": traces,
            "final_mean": statistics.mean(finals),
            "final_sd": statistics.stdev(finals) if len(finals) > 1 else 0.0,
            "wall_s": time.perf_counter() - start,
            "propose_s_median": statistics.median(propose_s),
        }
        if counts[0][0] is not None:
            entry["fallback"] = [c[0] for c in counts]
            entry["infeasible_asks"] = [c[1] for c in counts]
        if problem.max_hv:
            entry["final_fraction"] = entry["final_mean"] / problem.max_hv
        result[sampler] = entry
        fallback = f"  fallback {sum(entry['fallback'])}" if "fallback" in entry else ""
        print(
            f"{name:14s} {sampler:10s} HV {entry['final_mean']:.4f} +- {entry['final_sd']:.4f}"
            + (f" ({entry['final_fraction']:.1%} of max)" if problem.max_hv else "")
            + f"{fallback}  [{entry['wall_s']:.0f} s]",
            flush=True,
        )
    return result


def run_c2_tutorial_protocol(seeds: int) -> dict[str, Any]:
    """Ours on C2-DTLZ2 under the BoTorch tutorial's protocol: 10 Sobol points, then 20 x q=2.

    Returns:
        `hv` (`seeds x 50`), `final_mean`, `final_sd`, `final_fraction`, `wall_s`.
    """
    problem, traces, start = PROBLEMS["c2_dtlz2"](), [], time.perf_counter()
    for seed in range(seeds):
        optimizer = problem.optimizer("botorch", seed, n_initial=10)
        traces.append(optimize(problem, optimizer, 50, batch=2, seed=seed).hypervolume)
    finals = [t[-1] for t in traces]
    mean = statistics.mean(finals)
    return {
        "hv": traces,
        "final_mean": mean,
        "final_sd": statistics.stdev(finals) if len(finals) > 1 else 0.0,
        "final_fraction": mean / problem.max_hv,
        "wall_s": time.perf_counter() - start,
    }


def time_proposals(
    k: int, repeats: int, latency: bool = False, fidelity_model: str | None = None
) -> dict[str, Any]:
    """Seconds of botorch proposals with `k` feasible observations on the mv2 problem.

    Two objectives (accuracy, GMACs: the shape of the default search, accuracy vs latency) or,
    with `latency`, three (plus predicted latency, as in the benchmark when the table covers the
    space).

    With `fidelity_model` (`BoTorchOptions.fidelity_model`) the `k` observations are rungs of a
    successive-halving history (`rung_history`): 60 % of them distinct specs at rung 0, the rest
    the same specs' later rungs.

    As in a search, each optimizer first proposes at `k - 1` observations (its GP fit then warm
    starts the next one), then the proposal at `k` is timed. One warm-up round (imports,
    first-call allocations), then `repeats` rounds with seeds `1 .. repeats` on the same history.

    Returns:
        `median_s` (wall, the proposal at `k`), `median_cpu_s` (this process's CPU time, summed
        over its threads: on a loaded machine the wall time also counts waiting for a core),
        `median_cold_s` (wall, the proposal at `k - 1`: a fit from the default
        hyperparameters, as after a restart), `all_s`, `k`, `m` (objectives), `threads`,
        `loadavg_1min`, `fidelity_model`, `specs` (distinct specs).
    """
    problem = PROBLEMS["mv2"]() if latency else mv2_problem(latency_store=None)
    specs = k if fidelity_model is None else round(0.6 * k)
    X = problem.feasible_sample(specs, seed=1)
    Y = problem.objectives.metrics_tensor([problem.evaluate(x) for x in X])
    s, options = None, {}
    if fidelity_model is not None:
        X, Y, s = rung_history(X, Y, k, problem.objectives.names.index("accuracy"))
        options = {"fidelity_model": fidelity_model}
    Y = problem.objectives.to_max(Y)
    threads = torch.get_num_threads()
    pending = torch.empty(0, X.shape[-1])
    load = os.getloadavg()[0]
    seconds, cpu_seconds, cold = [], [], []
    for seed in range(repeats + 1):
        optimizer = problem.optimizer("botorch", seed, threads=threads, **options)
        start = time.perf_counter()
        optimizer.propose(X[:-1], Y[:-1], pending, 1, fidelity=None if s is None else s[:-1])
        cold.append(time.perf_counter() - start)
        start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.propose(X, Y, pending, 1, fidelity=s)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return {
        "median_s": statistics.median(seconds[1:]),
        "median_cpu_s": statistics.median(cpu_seconds[1:]),
        "median_cold_s": statistics.median(cold[1:]),
        "all_s": seconds,
        "k": k,
        "m": problem.objectives.m,
        "threads": threads,
        "loadavg_1min": load,
        "fidelity_model": fidelity_model,
        "specs": X.unique(dim=0).shape[0],
    }


def rung_history(
    X: torch.Tensor, Y: torch.Tensor, k: int, accuracy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`k` rows of a successive-halving history of the specs `X` (`j x d`, metrics `Y`).

    Every spec at rung 0 (fidelity 1/8: 50 of 400 steps); the first `k - j` also at a later
    rung: half of them at 1/4, a quarter at 1/2, a quarter at the top. A rung's accuracy is
    the spec's times `(1 - exp(-4 s)) / (1 - exp(-4))`, a learning curve.

    Returns:
        `k x d` rows, `k x m` metrics (own units) and the `k` fidelities.
    """
    j, extra = X.shape[0], k - X.shape[0]
    later = torch.tensor([0.25] * (extra - 2 * (extra // 4)) + [0.5, 1.0] * (extra // 4))
    s = torch.cat([torch.full((j,), 0.125), later.sort().values]).double()
    rows = torch.cat([torch.arange(j), torch.arange(extra)])
    X, Y = X[rows], Y[rows].clone()
    Y[:, accuracy] *= (1 - torch.exp(-4 * s)) / (1 - math.exp(-4))
    return X, Y, s


def check_targets(results: dict[str, Any], timing: dict[str, Any] | None) -> dict[str, Any]:
    """Which of requirement 9's targets the results meet (`None`: not measured)."""
    targets: dict[str, Any] = {}
    c2 = results.get("c2_dtlz2", {}).get("botorch")
    targets["c2_dtlz2_95pct"] = None if c2 is None else c2["final_fraction"] >= C2_TARGET
    for name, res in results.items():
        if "botorch" not in res:
            continue
        ours = res["botorch"]["final_mean"]
        others = [s for s in ("random", "tpe", "nsga2", "optuna_gp") if s in res]
        targets[f"{name}_ahead_of_optuna"] = {s: ours > res[s]["final_mean"] for s in others}
    targets["proposal_under_2s"] = (
        None if timing is None else timing["median_s"] < PROPOSAL_TARGET_S
    )
    return targets


def plot(results: dict[str, Any], path: Path) -> None:
    """Mean +- sd HV vs evaluations, one panel per problem (dashed: max HV where known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        for sampler, data in res.items():
            if not isinstance(data, dict) or "hv" not in data:
                continue
            hv = torch.tensor(data["hv"])
            mean = hv.mean(0)
            sd = hv.std(0) if hv.shape[0] > 1 else torch.zeros(hv.shape[1])
            steps = range(1, hv.shape[1] + 1)
            ax.plot(steps, mean, label=sampler, lw=2.0 if sampler == "botorch" else 1.2)
            ax.fill_between(steps, mean - sd, mean + sd, alpha=0.15)
        if res.get("max_hv"):
            ax.axhline(res["max_hv"], color="k", ls="--", lw=0.8)
        ax.set(title=name, xlabel="evaluations", ylabel="hypervolume")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--samplers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=50)
    parser.add_argument("--time-at", type=int, default=100, help="observations (0: no timing)")
    parser.add_argument("--time-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    parser.add_argument("--time-only", action="store_true", help="only time proposals")
    parser.add_argument(
        "--c2-tutorial", action="store_true", help="only ours on C2-DTLZ2, 10 Sobol + 20 x q=2"
    )
    return parser


def main() -> None:
    """Parse flags, run, write JSON and PNG."""
    args = _parser().parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.c2_tutorial:
        result = run_c2_tutorial_protocol(args.seeds)
        print(f"c2_dtlz2 tutorial protocol: {result['final_fraction']:.1%} of max feasible HV")
        (args.out / "bench_optimizer_c2_tutorial.json").write_text(json.dumps(result))
        return
    if args.time_only:
        timing = {}
        for m in (2, 3):
            for kind in (None, *FIDELITY_MODELS):
                key = f"m{m}" + (f"_{kind}" if kind else "")
                timing[key] = time_proposals(args.time_at, args.time_repeats, m == 3, kind)
                print(key, json.dumps(timing[key]), flush=True)
                if timing[key]["m"] != m:  # no latency table covering the space
                    print(f"{key}: skipped, the latency table does not cover the space")
                    del timing[key]
                    break
        print(json.dumps(timing))
        (args.out / f"bench_optimizer_timing_{args.threads}t.json").write_text(json.dumps(timing))
        return
    payload: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "results": {}}
    for name in args.problems:
        payload["results"][name] = run_problem(name, args.samplers, args.seeds, args.evals)
        (args.out / "bench_optimizer.json").write_text(json.dumps(payload, indent=1))
    plot(payload["results"], args.out / "bench_optimizer.png")
    timing = time_proposals(args.time_at, args.time_repeats) if args.time_at else None
    if timing:
        print(
            f"botorch proposal at {args.time_at} observations (mv2): median "
            f"{timing['median_s']:.2f} s on {timing['threads']} thread(s), "
            f"load {timing['loadavg_1min']:.2f}"
        )
    payload.update(timing=timing, targets=check_targets(payload["results"], timing))
    print(json.dumps(payload["targets"], indent=1))
    (args.out / "bench_optimizer.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
