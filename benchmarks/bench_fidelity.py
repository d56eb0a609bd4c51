"""How far can a short training run's ranking be trusted? Fidelity of the search's accuracy.

    python benchmarks/bench_fidelity.py                    # the full benchmark (~1.5 h, resumable)
    python benchmarks/bench_fidelity.py --quick            # 2 specs, tiny ladders (a smoke test)
    python benchmarks/bench_fidelity.py --report-only      # rebuild the JSON and plot from runs
    python benchmarks/bench_fidelity.py --reference-seeds 18 --rescore-val 10000   # see below

Specs: `--specs` (16) drawn with a fixed seed from the `mv2` space within the default budget
(0.5 GMACs), plus mobilevitv2_050 and mobilevit_xxs at 224 px. Each is trained, on the embedded
set (`--train-size` 10,000 images, scored on `--val-size` 1,000) at `image_size x 0.25` px,
batch 64, with:

- `wsd`, the ladder: warm-up, the peak LR held, every rung (31, 62, 125, 250 steps) scored after
  a decay branch of 20 % of its steps (the run itself goes on undecayed, so a rung's score does
  not depend on the ladder's top and each rung is a prefix of the next). Its top rung, seed 0,
  is the reference: at the default rungs, `conf/trainer/reference.yaml` on 10,000 images, the
  recipe `confirm.py` trains with. Seed 0 trains every spec to the top; seed 1 every spec to
  the rung below the top, and the first `--reference-seeds` (4) to the top as well (the
  reference's own noise);
- `cosine`: the other schedule that keeps rungs prefixes: warm-up then cosine defined on a top
  rung of 125 steps, scored at 31 and 125; seed 1 only, so that it and `wsd`'s seed 1 are both
  compared with the seed-0 reference across seeds (a seed-0 rung of `wsd` shares the first
  steps of the reference run itself, which flatters it);
- `old_proxy`: the search's proxy before this benchmark (`trainer=search`: 62 steps on 2,000
  images, cosine over its own steps), seeds 0 and 1.

Every evaluation is scored twice: with the BatchNorm statistics re-estimated on 20 fixed
training batches (`top1`, what the trainer now does) and with the running averages
(`running_bn_top1`, what it did before).

Per ladder and rung the JSON reports: Kendall tau-b of seed 0 vs seed 1 (`tau_seeds`); of
seed 0 against the seed-0 reference (`tau_reference`, which for `wsd` shares the rung's first
steps), of seed 1 against it (`tau_reference_cross`), of seed 0 against the seed-1 reference
(`tau_reference_seed1`, where `--reference-seeds` trained it) and the mean of the two across-seed
ones (`tau_cross_mean`); the spread of accuracies (sd over specs, mean |seed 0 - seed 1|), and
the CPU-seconds to reach the rung (train, decay branches and evaluations; mean per spec, one
thread). `reference` holds both seeds' top-1 and their own tau. The plot is tau vs CPU-seconds
per rung.

`--rescore-val N` also scores every finished reference run and old-proxy run (both seeds) on N
validation images of data seed `--rescore-seed` (1000: a set no run trained or was scored on),
the same set for every run, with the run's own decay branch and BatchNorm re-estimation
(`TrainRun.rescore`; the run is not changed; cached in `<out>/rescore.json`). 1,000 images
measure a top-1 near 0.82 to about +-0.012 (binomial), the size of the gaps between most specs:
`reference_large_val` says how far the reference's own order then repeats, how far the old
proxy agrees with it when scored on the same set, and `tau_large_val_cross_mean` how far each
rung (on its own 1,000 images) agrees with it. Runs are cached under `runs/train/` by spec and
recipe: a killed benchmark resumes where it stopped (a run continues from its checkpoint), and
`--report-only` trains nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from mv2search.arch import ArchSpec, get_preset
from mv2search.cost.device import DeviceProfile
from mv2search.data import POLICIES, DataOptions, build_datasets
from mv2search.files import write_json
from mv2search.search import load_space
from mv2search.search.evaluator import Evaluator, proxy_resolution
from mv2search.search.settings import EvaluatorConfig, TrainingSetup
from mv2search.study.objectives import exact_metrics
from mv2search.train import TrainerConfig, TrainRun, load_trainer
from mv2search.train.config import LR_SCALINGS
from mv2search.train.result import TrainResult

OUT = Path("runs/benchmarks/bench_fidelity")


@dataclasses.dataclass(frozen=True)
class Ladder:
    """One way of training: its trainer, data, rungs, and the seeds it is run with."""

    name: str
    trainer: TrainerConfig
    rungs: tuple[int, ...]  # scored steps (0: the trainer's own budget)
    data: DataOptions
    seeds: tuple[int, ...] = (0, 1)
    resolution_scale: float = 0.25  # of each spec's image size


def ladders(args: argparse.Namespace) -> dict[str, Ladder]:
    """The ladders of the module docstring, scaled by the command line."""
    # conf/trainer/reference.yaml: batch 64, wsd with a 20 % decay branch, BN re-estimated on 20
    # batches; at the default rungs its top rung is that recipe (confirm.py's default)
    base = dataclasses.replace(
        load_trainer("reference"),
        eval_running_bn=True,
        lr_scaling=args.lr_scaling,
        lr=args.lr,
        augment=args.augment,
        label_smoothing=args.label_smoothing,
    )
    data = DataOptions(embedded_train_size=args.train_size, embedded_val_size=args.val_size)
    rungs = tuple(args.rungs)
    return {
        "wsd": Ladder(
            "wsd",
            dataclasses.replace(
                base,
                name="fidwsd",
                schedule_steps=rungs[-1],
                eval_steps=list(rungs),
                warmup_steps=max(1, rungs[0] // 4),
            ),
            rungs,
            data,
            resolution_scale=args.resolution_scale,
        ),
        "cosine": Ladder(
            "cosine",
            dataclasses.replace(
                base,
                name="fidcos",
                schedule="cosine",
                schedule_steps=rungs[-2],
                eval_steps=[rungs[0], rungs[-2]],
                warmup_steps=max(1, rungs[0] // 4),
            ),
            (rungs[0], rungs[-2]),
            data,
            seeds=(1,),
            resolution_scale=args.resolution_scale,
        ),
        "old_proxy": Ladder(
            "old_proxy",
            dataclasses.replace(load_trainer("search"), eval_running_bn=True, name="fidold"),
            (0,),  # its own budget: 2 epochs
            DataOptions(embedded_train_size=2000, embedded_val_size=1000),
            resolution_scale=args.resolution_scale,
        ),
    }


def draw_specs(n: int, seed: int = 0) -> list[tuple[str, ArchSpec]]:
    """`n` distinct specs of `mv2` within 0.5 GMACs (seeded), and two presets at 224 px."""
    space = load_space("mv2")
    found: dict[str, ArchSpec] = {}
    for spec in space.sample(40 * n, seed=seed):
        if exact_metrics(spec, ("gmacs",))["gmacs"] <= 0.5:
            found.setdefault(spec.signature, spec)
        if len(found) == n:
            break
    named = [(f"s{i:02d}", spec) for i, spec in enumerate(found.values())]
    for preset in ("mobilevitv2_050", "mobilevit_xxs"):
        spec = get_preset(preset).replace(image_size=224, num_classes=10, name="")
        named.append((f"{preset}@224", spec))
    return named


def _evaluator(ladder: Ladder, seed: int, runs_dir: str) -> Evaluator:
    training = TrainingSetup(ladder.trainer, "embedded", ladder.data.under(runs_dir), seed)
    settings = EvaluatorConfig(resolution_scale=ladder.resolution_scale, torch_device="cpu")
    return Evaluator(("accuracy",), training, DeviceProfile(name="unused"), settings, runs_dir)


Job = tuple[str, int, str, dict[str, Any], int, str]  # ladder, seed, spec name, spec, steps, runs


def _job(job: Job) -> tuple[str, int, str, dict]:
    """Train one (ladder, seed, spec) to `steps`, in a worker process."""
    torch.set_num_threads(1)
    ladder_name, seed, name, spec_dict, steps, runs_dir = job
    ladder = LADDERS[ladder_name]
    spec = ArchSpec.from_dict(spec_dict)
    result = _evaluator(ladder, seed, runs_dir).proxy_train(spec, steps or None)
    return ladder_name, seed, name, result.to_dict()


def _top_run(ladder_name: str, seed: int, spec: ArchSpec, runs_dir: str):
    """The trainer (at the spec's training resolution), folder and last step of `spec`'s run of
    `seed` along `ladder_name` to its top rung (the `wsd` one: the reference)."""
    ladder = LADDERS[ladder_name]
    size = proxy_resolution(spec.image_size, ladder.resolution_scale)
    trainer = dataclasses.replace(
        ladder.trainer, image_size=size, max_steps=ladder.rungs[-1] or None
    )
    return trainer, _evaluator(ladder, seed, runs_dir).train_dir(spec, trainer)


RescoreJob = tuple[str, int, str, dict[str, Any], str, int, int]


def larger_val(options: DataOptions, image_size: int, size: int, seed: int) -> Any:
    """The embedded validation split of `size` images drawn with data seed `seed`, at
    `image_size` px and untransformed: the set every run is rescored on (`--rescore-val`)."""
    larger = dataclasses.replace(options, embedded_val_size=size)
    return build_datasets("embedded", image_size, policy="none", seed=seed, options=larger).val


def _rescore_job(job: RescoreJob) -> tuple[str, int, str, float]:
    """Score the finished run of (ladder, seed, spec) at its last step on `val_size` validation
    images of data seed `val_seed`, one set for every run (`TrainRun.rescore`: the same decay
    branch and BatchNorm re-estimation as its own score), in a worker process."""
    torch.set_num_threads(1)
    ladder_name, seed, name, spec_dict, runs_dir, val_size, val_seed = job
    ladder = LADDERS[ladder_name]
    spec = ArchSpec.from_dict(spec_dict)
    trainer, run_dir = _top_run(ladder_name, seed, spec, runs_dir)
    size = int(trainer.image_size or 0)
    options = ladder.data.under(runs_dir)
    own = build_datasets("embedded", size, policy=trainer.augment, seed=seed, options=options)
    val = larger_val(options, size, val_size, val_seed)
    run = TrainRun(
        dataclasses.replace(spec, image_size=size, num_classes=own.num_classes),
        dataclasses.replace(own, val=val),
        trainer,
        seed=seed,
        run_dir=run_dir,
    )
    if run.progress["step"] != run.total_steps:
        raise SystemExit(f"{run_dir}: at step {run.progress['step']}, not {run.total_steps}")
    return ladder_name, seed, name, float(run.rescore()["top1"])


def rescore_runs(
    specs: list[tuple[str, ArchSpec]], args: argparse.Namespace, pool: Any
) -> dict[str, dict[str, dict[str, float]]]:
    """`{ladder: {"0": {spec: top-1}, "1": ...}}` of every finished top-rung run of `wsd` (the
    references) and `old_proxy` on the larger validation set (`--rescore-val`), cached in
    `<out>/rescore.json` by run folder and set (None as pool: read the cache only)."""
    cache_path = args.out / "rescore.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    tag = f"val{args.rescore_val}-seed{args.rescore_seed}"
    jobs, keys = [], {}
    for ladder in [n for n in ("wsd", "old_proxy") if n in LADDERS]:
        for seed in (0, 1):
            for name, spec in specs:
                trainer, run_dir = _top_run(ladder, seed, spec, str(args.runs_dir))
                done = run_dir / "result.json"
                steps = trainer.max_steps
                if not done.is_file() or (
                    steps is not None and json.loads(done.read_text())["steps"] < steps
                ):
                    continue
                keys[(ladder, seed, name)] = f"{run_dir.name}/{tag}"
                if keys[(ladder, seed, name)] not in cache and pool is not None:
                    job = (ladder, seed, name, spec.to_dict(), str(args.runs_dir))
                    jobs.append((*job, args.rescore_val, args.rescore_seed))
    for future in as_completed([pool.submit(_rescore_job, job) for job in jobs] if jobs else []):
        ladder, seed, name, top1 = future.result()
        cache[keys[(ladder, seed, name)]] = top1
        print(f"rescored {ladder} seed {seed} {name}: top-1 {top1:.4f} ({tag})", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(cache_path, cache)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for (ladder, seed, name), key in keys.items():
        if key in cache:
            scores.setdefault(ladder, {"0": {}, "1": {}})[str(seed)][name] = cache[key]
    return scores


def _jobs(specs: list[tuple[str, ArchSpec]], args: argparse.Namespace) -> list[Job]:
    """Every run of the module docstring, the longest first (so the pool ends together)."""
    jobs = []
    for ladder in LADDERS.values():
        for seed in ladder.seeds:
            for i, (name, spec) in enumerate(specs):
                steps = ladder.rungs[-1]
                if ladder.name == "wsd" and seed == 1 and i >= args.reference_seeds:
                    steps = ladder.rungs[-2]  # the second seed below the reference
                jobs.append((ladder.name, seed, name, spec.to_dict(), steps, str(args.runs_dir)))
    # the reference first, then the old proxy (cheap, the "before"), then the rest, each the
    # longest first: an interrupted benchmark has its most telling rows
    order = {("wsd", 0): 0, ("old_proxy", 0): 1, ("old_proxy", 1): 1, ("wsd", 1): 2}
    return sorted(jobs, key=lambda j: (order.get((j[0], j[1]), 3), -(j[4] or 62)))


def _scores(result: dict[str, Any], step: int) -> dict[str, float | None]:
    run = TrainResult.from_dict(result)
    if step == 0:
        row = run.history[-1]
    else:
        row = next((r for r in run.history if r["step"] == step), None)
        if row is None:  # this seed's run stops below the rung
            return {"top1": None, "running_bn_top1": None, "cpu_s": None}
    return {
        "top1": row.get("top1"),
        "running_bn_top1": row.get("running_bn_top1"),
        "cpu_s": row.get("wall_s"),
    }


def _tau(a: list[float | None], b: list[float | None]) -> float | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    tau = kendalltau(*zip(*pairs, strict=True)).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def _column(results: dict, ladder: str, seed: int, step: int, names: list[str]) -> list[dict]:
    empty = {"top1": None, "running_bn_top1": None, "cpu_s": None}
    return [
        _scores(results[(ladder, seed, n)], step) if (ladder, seed, n) in results else empty
        for n in names
    ]


def summarise(
    results: dict,
    specs: list[tuple[str, ArchSpec]],
    args: argparse.Namespace,
    rescored: dict[str, dict[str, dict[str, float]]] | None = None,
) -> dict:
    """The JSON of the module docstring from the runs' results (and the references rescored on
    the larger validation set, if any)."""
    names = [name for name, _ in specs]
    top = LADDERS["wsd"].rungs[-1]
    reference = [s["top1"] for s in _column(results, "wsd", 0, top, names)]
    ref_seed1 = [s["top1"] for s in _column(results, "wsd", 1, top, names)]
    rescored = rescored or {}
    large = [rescored.get("wsd", {}).get("0", {}).get(n) for n in names]
    large_seed1 = [rescored.get("wsd", {}).get("1", {}).get(n) for n in names]
    # the old proxy's runs on the same larger set (both sides measured on it)
    proxy = [rescored.get("old_proxy", {}).get("0", {}).get(n) for n in names]
    proxy_seed1 = [rescored.get("old_proxy", {}).get("1", {}).get(n) for n in names]
    rows = []
    for ladder in LADDERS.values():
        for rung in ladder.rungs:
            per_seed = {seed: _column(results, ladder.name, seed, rung, names) for seed in (0, 1)}
            for key in ("top1", "running_bn_top1"):
                a = [s[key] for s in per_seed[0]]
                b = [s[key] for s in per_seed[1]]
                scored = [v for v in a + b if v is not None]
                both = [(x, y) for x, y in zip(a, b, strict=True) if None not in (x, y)]
                mean_ab = [None if None in p else (p[0] + p[1]) / 2 for p in zip(a, b, strict=True)]
                cpu = [s["cpu_s"] for s in per_seed[0] + per_seed[1]]
                rows.append(
                    {
                        "ladder": ladder.name,
                        "rung": rung or ladder.trainer.epochs,
                        "unit": "steps" if rung else "epochs",
                        "bn": "recalibrated" if key == "top1" else "running",
                        "n_seed0": sum(v is not None for v in a),
                        "n_seed1": sum(v is not None for v in b),
                        "tau_seeds": _tau(a, b),
                        "tau_reference": _tau(a, reference),
                        "tau_reference_cross": _tau(b, reference),
                        "tau_reference_seed1": _tau(a, ref_seed1),
                        "tau_cross_mean": _mean([_tau(b, reference), _tau(a, ref_seed1)]),
                        "tau_large_val_cross_mean": _mean([_tau(b, large), _tau(a, large_seed1)]),
                        "tau_reference_seed_mean": _tau(mean_ab, reference),
                        "mean_top1": float(np.mean(scored)) if scored else None,
                        "sd_top1": float(np.std(scored)) if scored else None,
                        "mean_abs_seed_diff": (
                            float(np.mean([abs(x - y) for x, y in both])) if both else None
                        ),
                        "cpu_s_per_spec": _mean(cpu),
                    }
                )
    return {
        "specs": {name: spec.to_dict() for name, spec in specs},
        "gmacs": {name: exact_metrics(spec, ("gmacs",))["gmacs"] for name, spec in specs},
        "ladders": {
            name: {
                "trainer": dataclasses.asdict(ladder.trainer),
                "rungs": list(ladder.rungs),
                "data": dataclasses.asdict(ladder.data),
                "seeds": list(ladder.seeds),
            }
            for name, ladder in LADDERS.items()
        },
        "reference": {
            "ladder": "wsd",
            "steps": top,
            "top1": dict(zip(names, reference, strict=True)),
            "seed1_top1": dict(zip(names, ref_seed1, strict=True)),
            "tau_seeds": _tau(reference, ref_seed1),
            "n_seed1": sum(v is not None for v in ref_seed1),
            "mean_abs_seed_diff": _mean(
                [
                    abs(x - y)
                    for x, y in zip(reference, ref_seed1, strict=True)
                    if None not in (x, y)
                ]
            ),
            "sd_top1": float(np.std([v for v in reference if v is not None])),
        },
        "reference_large_val": None
        if not any(v is not None for v in large)
        else {
            "val_size": args.rescore_val,
            "val_seed": args.rescore_seed,
            "top1": dict(zip(names, large, strict=True)),
            "seed1_top1": dict(zip(names, large_seed1, strict=True)),
            "tau_seeds": _tau(large, large_seed1),
            "mean_abs_seed_diff": _mean(
                [abs(x - y) for x, y in zip(large, large_seed1, strict=True) if None not in (x, y)]
            ),
            # the same weights on their own 1,000 images and on the larger set
            "tau_vs_own_val": _mean([_tau(large, reference), _tau(large_seed1, ref_seed1)]),
            "old_proxy_top1": dict(zip(names, proxy, strict=True)),
            "old_proxy_seed1_top1": dict(zip(names, proxy_seed1, strict=True)),
            "old_proxy_tau_seeds": _tau(proxy, proxy_seed1),
            "old_proxy_tau_cross_mean": _mean([_tau(proxy_seed1, large), _tau(proxy, large_seed1)]),
        },
        "rows": rows,
        "accuracies": {
            f"{ladder}/{seed}/{name}": {
                str(r["step"]): [r.get("top1"), r.get("running_bn_top1"), r.get("wall_s")]
                for r in TrainResult.from_dict(result).history
            }
            for (ladder, seed, name), result in results.items()
        },
        "command": " ".join(sys.argv),
    }


def _mean(values: list[float | None]) -> float | None:
    done = [v for v in values if v is not None]
    return float(np.mean(done)) if done else None


def _cross(row: dict) -> float | None:
    """A rung's tau against a reference it shares no steps with: the mean of seed 1 vs the
    seed-0 reference and seed 0 vs the seed-1 one where both exist, else the first."""
    return (
        row.get("tau_cross_mean")
        if row.get("tau_cross_mean") is not None
        else row["tau_reference_cross"]
    )


def plot(summary: dict, path: Path) -> None:
    """Tau vs CPU-seconds per rung: against the reference (solid), seed to seed (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=110)
    colours = {"wsd": "tab:red", "cosine": "tab:blue", "old_proxy": "tab:grey"}
    for ladder in colours:
        for bn, marker in (("recalibrated", "o"), ("running", "x")):
            rows = [r for r in summary["rows"] if r["ladder"] == ladder and r["bn"] == bn]
            rows = [r for r in rows if r["cpu_s_per_spec"] is not None]
            if not rows:
                continue
            x = [r["cpu_s_per_spec"] for r in rows]
            label = f"{ladder} ({'BN re-estimated' if bn == 'recalibrated' else 'running BN'})"
            cross = [_cross(r) for r in rows]
            ax.plot(
                x,
                cross,
                marker + "-",
                color=colours[ladder],
                alpha=1.0 if bn == "recalibrated" else 0.5,
                label=label,
            )
            seeds = [r["tau_seeds"] for r in rows]
            if any(s is not None for s in seeds):
                ax.plot(x, seeds, marker + "--", color=colours[ladder], alpha=0.35)
            for r in rows:
                ax.annotate(str(r["rung"]), (r["cpu_s_per_spec"], _cross(r) or 0), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("CPU-seconds per spec to reach the rung (train + evaluation, one thread)")
    ax.set_ylabel("Kendall tau")
    ax.set_title(
        "solid: against the reference of the other seed (mean of both ways where both exist);"
        "\ndashed: seed 0 vs seed 1",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", type=int, default=16, help="drawn from mv2 (plus 2 presets)")
    parser.add_argument("--rungs", type=int, nargs="+", default=[31, 62, 125, 250])
    parser.add_argument(
        "--reference-seeds", type=int, default=4, help="specs with a seed-1 reference"
    )
    parser.add_argument("--resolution-scale", type=float, default=0.25, help="of each spec's px")
    parser.add_argument("--only", nargs="+", default=None, help="spec names (e.g. s03 s07)")
    parser.add_argument("--ladders", nargs="+", default=None, help="of wsd, cosine, old_proxy")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="e.g. 0: seed 0 only")
    parser.add_argument(
        "--lr-scaling", default="sqrt", choices=LR_SCALINGS, help="batch-1024 LR table to 64"
    )
    parser.add_argument("--lr", type=float, default=None, help="peak LR (default: the table)")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--augment", default="light", choices=POLICIES, help="train transform")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--val-size", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=max(1, len(os.sched_getaffinity(0))))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--rescore-val", type=int, default=0, help="score the references on N more images"
    )
    parser.add_argument("--rescore-seed", type=int, default=1000, help="data seed of that set")
    parser.add_argument("--report-only", action="store_true", help="train nothing")
    parser.add_argument("--quick", action="store_true", help="2 specs, tiny ladders")
    args = parser.parse_args(argv)
    if args.quick:
        args.specs, args.rungs, args.train_size, args.val_size = 2, [5, 10, 20], 400, 200
        args.reference_seeds, args.out = 1, args.out.with_name(args.out.name + "_quick")
    return args


LADDERS: dict[str, Ladder] = {}


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the benchmark and write `<out>/bench_fidelity.{json,png}`."""
    args = parse_args(argv)
    _init(vars(args))
    specs = draw_specs(args.specs)
    if args.only:
        unknown = sorted(set(args.only) - {name for name, _ in specs})
        if unknown:
            drawn = [n for n, _ in specs]
            raise SystemExit(f"--only: {unknown} are not specs of this draw: {drawn}")
        specs = [(name, spec) for name, spec in specs if name in args.only]
    jobs = [j for j in _jobs(specs, args) if args.seeds is None or j[1] in args.seeds]
    started = time.monotonic()
    results: dict[tuple[str, int, str], dict] = {}
    rescored: dict[str, dict[str, dict[str, float]]] = {}
    if args.report_only:
        for ladder_name, seed, name, spec_dict, steps, runs_dir in jobs:
            ladder = LADDERS[ladder_name]
            spec = ArchSpec.from_dict(spec_dict)
            trainer = dataclasses.replace(
                ladder.trainer,
                image_size=proxy_resolution(spec.image_size, ladder.resolution_scale),
                max_steps=steps or None,
            )
            done = _evaluator(ladder, seed, runs_dir).train_dir(spec, trainer) / "result.json"
            if done.is_file():
                results[(ladder_name, seed, name)] = json.loads(done.read_text())
        if args.rescore_val:
            rescored = rescore_runs(specs, args, None)
    else:
        # a process pool whose workers may start their own (the image generator does)
        context = multiprocessing.get_context("spawn")
        os.environ["OMP_NUM_THREADS"] = "1"
        # SIGTERM (kill) stops the workers too: each resumes from its checkpoint next time
        signal.signal(signal.SIGTERM, _terminate)
        with ProcessPoolExecutor(
            args.workers, mp_context=context, initializer=_init, initargs=(vars(args),)
        ) as pool:
            try:
                futures = [pool.submit(_job, job) for job in jobs]
                for i, future in enumerate(as_completed(futures), 1):
                    ladder_name, seed, name, result = future.result()
                    results[(ladder_name, seed, name)] = result
                    top1 = result.get("top1")
                    print(
                        f"[{i}/{len(jobs)} {time.monotonic() - started:6.0f} s] {ladder_name} "
                        f"seed {seed} {name}: top-1 {top1 if top1 is None else round(top1, 4)}, "
                        f"{result['wall_s']:.0f} s",
                        flush=True,
                    )
                if args.rescore_val:
                    rescored = rescore_runs(specs, args, pool)
            except BaseException:  # before the pool's exit, which would wait for running jobs
                for worker in multiprocessing.active_children():
                    worker.terminate()
                raise
    summary = summarise(results, specs, args, rescored)
    summary["wall_s"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "bench_fidelity.json", summary)
    plot(summary, args.out / "bench_fidelity.png")
    for row in summary["rows"]:
        if row["bn"] == "recalibrated" or row["ladder"] == "old_proxy":
            print(
                f"{row['ladder']:>10} {row['rung']:>5} {row['unit']:<6} {row['bn']:<12} "
                f"tau_ref {_fmt(row['tau_reference'])} cross {_fmt(row['tau_reference_cross'])} "
                f"cross_mean {_fmt(row['tau_cross_mean'])} "
                f"tau_seeds {_fmt(row['tau_seeds'])} "
                f"mean {_fmt(row['mean_top1'])} |d| {_fmt(row['mean_abs_seed_diff'])} "
                f"cpu_s {_fmt(row['cpu_s_per_spec'])}"
            )
    print(f"reference seed-to-seed tau: {_fmt(summary['reference']['tau_seeds'])}")
    large_val = summary["reference_large_val"]
    if large_val is not None:
        print(
            f"reference on {large_val['val_size']} images: seed-to-seed tau "
            f"{_fmt(large_val['tau_seeds'])}, mean |d| {_fmt(large_val['mean_abs_seed_diff'])}; "
            "rungs against it (cross mean): "
            + ", ".join(
                f"{r['ladder']} {r['rung']}: {_fmt(r['tau_large_val_cross_mean'])}"
                for r in summary["rows"]
                if r["bn"] == "recalibrated"
            )
            + f"; the old proxy scored on it too: {_fmt(large_val['old_proxy_tau_cross_mean'])} "
            f"(its seeds {_fmt(large_val['old_proxy_tau_seeds'])})"
        )
    print(f"wrote {args.out}/bench_fidelity.json and .png")
    return 0


def _init(args: dict[str, Any]) -> None:
    """A worker process (and the parent): the ladders from the command line."""
    ladders_ = ladders(argparse.Namespace(**args))
    unknown = sorted(set(args["ladders"] or ()) - set(ladders_))
    if unknown:
        raise SystemExit(f"--ladders: {unknown}; allowed: {sorted(ladders_)}")
    LADDERS.clear()
    LADDERS.update({k: v for k, v in ladders_.items() if k in (args["ladders"] or ladders_)})


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM: leave through the pool's exception path (which stops the workers)."""
    raise SystemExit(128 + signum)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    sys.exit(main())
