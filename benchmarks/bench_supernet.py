"""Does the supernet rank candidates as stand-alone training does? Rank fidelity (issue 16).

    python benchmarks/bench_supernet.py                    # 300 sandwich steps of 32 (~minutes)
    python benchmarks/bench_supernet.py --steps 2000 --batch-size 128   # the paper-scale recipe

Specs: those of `benchmarks/bench_fidelity.py` (`draw_specs`: 16 drawn with a fixed seed from the
`mv2` space within 0.5 GMACs, plus mobilevitv2_050 and mobilevit_xxs at 224 px), whose reference
top-1 (its `wsd` ladder's top rung, seed 0: `conf/trainer/reference.yaml`) is read from
`runs/benchmarks/bench_fidelity/bench_fidelity.json` (run that benchmark first).

The supernet: one run of `mv2search.supernet_train` over the `mv2` space within the same budget
(0.5 GMACs), on the same data as the reference (the embedded set, `--train-size` 10,000 training
images, `--val-size` 1,000 validation images, `image_size x 0.25` px), `--steps` (300) sandwich
steps of `--batch-size` (32) images with `--num-random` (2) random subnets besides the largest and
smallest, on one thread; cached under `<runs-dir>/supernet/<key>/` like the search's (a second run
trains nothing and reuses the CPU-seconds this benchmark recorded). Each spec the supernet covers
is scored the search's way (`SupernetScorer`): its inherited subnet, BatchNorm re-estimated on
`--bn-images` (320) training images, top-1 on the 1,000 validation images. Specs outside it
(mobilevit_xxs, a v1-style block) are listed as skipped.

`--score-val 10000`: the inherited subnets are scored on the larger validation set that
`bench_fidelity.py --rescore-val 10000` rescored the references on (data seed
`--score-val-seed`, 1000), and compared with those rescored references: on 1,000 images the
reference repeats its own order between seeds at tau 0.35 only, on 10,000 at 0.61 (README).
Fine-tuned rungs are still scored on their own 1,000 images.

(b) inherited and fine-tuned: each covered spec's extracted weights trained on for `--finetune`
(31 62) steps with the fidelity benchmark's `wsd` recipe (warm-up, the peak LR held, a decay
branch at each rung, BN re-estimated), seed 0, on the reference's data; cached in `runs/train/`.
`--finetune` with no value skips it.

Writes `runs/benchmarks/bench_supernet.json`: per spec the inherited and reference top-1;
`against`: tau, Spearman and n of the inherited and each fine-tuned rung against the seed-0
reference, the seed-1 one (where the fidelity benchmark trained it) and their mean; Kendall
tau-b and Spearman of the two (and the range of tau leaving one spec out); the supernet's training
CPU-seconds (`time.process_time`, one thread) and that cost in mean reference runs (the `wsd`
top rung's `cpu_s_per_spec`); seconds per candidate scored; every rung's `tau_reference_cross`
of the fidelity benchmark for comparison; and the inherited accuracy per attention type and per
width (with tau within each group of 3 or more), to hint which elastic dimension breaks the
ranking. And `runs/benchmarks/bench_supernet.png`: inherited vs reference top-1, points labelled.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import bench_fidelity  # benchmarks/, on the path of a script run from it
import torch
import yaml
from scipy.stats import kendalltau, spearmanr

from mv2search.arch import ArchSpec
from mv2search.data import DataOptions, build_datasets
from mv2search.files import write_json
from mv2search.search.settings import EvaluatorConfig, SupernetScoreConfig, TrainingSetup
from mv2search.search.space import spaces_dir
from mv2search.search.supernet_score import SupernetScorer
from mv2search.study.objectives import Budget
from mv2search.supernet_train import proxy_resolution, run_key
from mv2search.train import TrainerConfig, load_trainer

OUT = Path("runs/benchmarks")
FIDELITY = OUT / "bench_fidelity" / "bench_fidelity.json"


def _tau(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    value = kendalltau(x, y).statistic
    return None if math.isnan(value) else float(value)


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    value = spearmanr(x, y).statistic
    return None if math.isnan(value) else float(value)


def _attn_types(spec: ArchSpec) -> list[str]:
    """The attention types of the stages that have attention (a stage with 0 blocks has none)."""
    return sorted({t for t, n in zip(spec.attn_types, spec.attn_blocks, strict=True) if n > 0})


def _groups(scored: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Mean inherited and reference top-1 (and tau within) per value of `key` of the rows."""
    values: dict[Any, list[dict[str, Any]]] = {}
    for row in scored:
        for value in row[key] if isinstance(row[key], list) else [row[key]]:
            values.setdefault(value, []).append(row)
    groups = []
    for value, rows in sorted(values.items(), key=lambda kv: str(kv[0])):
        inherited = [r["inherited_top1"] for r in rows]
        reference = [r["reference_top1"] for r in rows]
        groups.append(
            {
                key: value,
                "n": len(rows),
                "specs": [r["name"] for r in rows],
                "mean_inherited_top1": statistics.fmean(inherited),
                "mean_reference_top1": statistics.fmean(reference),
                "tau": _tau(inherited, reference),
            }
        )
    return groups


def plot(summary: dict[str, Any], path: Path) -> None:
    """Inherited vs reference top-1, one labelled point per spec, coloured by width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["scored"]
    fig, ax = plt.subplots(figsize=(7, 6))
    points = ax.scatter(
        [r["reference_top1"] for r in rows],
        [r["inherited_top1"] for r in rows],
        c=[r["width_multiplier"] for r in rows],
        cmap="viridis",
    )
    for r in rows:
        label = f"{r['name']} ({'/'.join(a[:3] for a in r['attn_types']) or 'none'})"
        ax.annotate(label, (r["reference_top1"], r["inherited_top1"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
    fig.colorbar(points, ax=ax, label="width multiplier")
    ax.set_xlabel("reference top-1 (stand-alone, wsd 250 steps)")
    ax.set_ylabel("inherited top-1 (supernet, BN re-estimated)")
    recipe = summary["recipe"]
    ax.set_title(
        f"supernet {recipe['steps']} x {recipe['batch_size']} (+{recipe['num_random']} random): "
        f"tau {_fmt(summary['kendall_tau'])}, Spearman {_fmt(summary['spearman'])}, "
        f"n={summary['n']}",
        fontsize=9,
    )
    ax.margins(x=0.15, y=0.08)  # room for the labels
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="supernet sandwich steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-random", type=int, default=2, help="random subnets per sandwich")
    parser.add_argument("--teacher", default="budget", choices=["budget", "space"])
    parser.add_argument(
        "--attention-free", action="store_true", help="train the teacher's attention-free twin too"
    )
    parser.add_argument("--bn-images", type=int, default=320, help="BatchNorm re-estimation")
    parser.add_argument("--specs", type=int, default=16, help="drawn as bench_fidelity does")
    parser.add_argument("--gmacs", type=float, default=0.5, help="the supernet's budget")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--val-size", type=int, default=1_000)
    parser.add_argument("--resolution-scale", type=float, default=0.25, help="of each spec's px")
    parser.add_argument(
        "--score-val",
        type=int,
        default=None,
        help="score on the fidelity benchmark's larger set (its --rescore-val), e.g. 10000",
    )
    parser.add_argument("--score-val-seed", type=int, default=1000, help="its --rescore-seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--finetune", type=int, nargs="*", default=[31, 62], help="fine-tune rungs (none: skip)"
    )
    parser.add_argument("--fidelity", type=Path, default=FIDELITY, help="bench_fidelity's JSON")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.monotonic()
    fidelity = json.loads(args.fidelity.read_text())
    reference, reference_seed1 = references(fidelity, args)
    specs = bench_fidelity.draw_specs(args.specs)

    mapping = yaml.safe_load((spaces_dir() / "mv2.yaml").read_text())
    options = DataOptions(
        embedded_train_size=args.train_size, embedded_val_size=args.val_size
    ).under(args.runs_dir)
    training = TrainingSetup(TrainerConfig(), "embedded", options, args.seed)
    settings = EvaluatorConfig(
        accuracy="supernet",
        resolution_scale=args.resolution_scale,
        torch_device="cpu",
        supernet=SupernetScoreConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            num_random=args.num_random,
            teacher=args.teacher,
            attention_free=args.attention_free,
            bn_images=args.bn_images,
        ),
    )
    policy = load_trainer("reference").augment  # the reference runs' training transform

    def data(image_size: int) -> Any:
        sets = build_datasets(
            "embedded", image_size, policy=policy, seed=args.seed, options=options
        )
        if args.score_val is None:
            return sets
        val = bench_fidelity.larger_val(options, image_size, args.score_val, args.score_val_seed)
        return dataclasses.replace(sets, val=val)  # the images the references were rescored on

    device = torch.device("cpu")
    budgets = (Budget("gmacs", args.gmacs),)
    scorer = SupernetScorer(mapping, budgets, training, settings, args.runs_dir, data, device)
    key = run_key(scorer.task(), scorer.cfg)

    # the supernet's training: its CPU-seconds (one thread), or those recorded by the run that
    # trained it when the cache answers
    # the training images are built (or read from the data cache) first: not the training's cost
    sizes = [p["bounds"][1] for p in mapping["parameters"] if p["name"] == "image_size"]
    data(proxy_resolution(max(sizes), args.resolution_scale))
    cpu0, wall0 = time.process_time(), time.monotonic()
    result = scorer.supernet()
    train_cpu_s, train_wall_s = time.process_time() - cpu0, time.monotonic() - wall0
    out_json = args.out / "bench_supernet.json"
    if result.cached:
        previous = json.loads(out_json.read_text()) if out_json.is_file() else {}
        if previous.get("supernet", {}).get("run_key") == key:
            train_cpu_s = previous["supernet"]["train_cpu_s"]
            train_wall_s = previous["supernet"]["train_wall_s"]
        else:
            train_cpu_s = train_wall_s = None
    print(
        f"supernet {key}: {result.step} steps ({'cached' if result.cached else 'trained'}), "
        f"{scorer.resolution} px, {_fmt(train_cpu_s)} CPU-s, {_fmt(train_wall_s)} s wall",
        flush=True,
    )
    cpu0 = time.process_time()
    scorer.images()
    images_cpu_s = time.process_time() - cpu0

    scored, skipped = [], []
    for name, spec in specs:
        if name not in reference:
            skipped.append({"name": name, "reason": "no reference run"})
            print(f"{name:>20}: skipped (no reference run)", flush=True)
            continue
        try:
            top1, seconds = scorer.score(spec)
        except ValueError as err:  # outside the supernet (mobilevit_xxs: v1-style blocks)
            skipped.append({"name": name, "reason": str(err)})
            print(f"{name:>20}: skipped ({err})", flush=True)
            continue
        ref1 = reference_seed1.get(name)
        row = {
            "name": name,
            "inherited_top1": top1,
            "reference_top1": reference[name],
            "reference_seed1_top1": ref1,
            "reference_mean_top1": None if ref1 is None else (reference[name] + ref1) / 2,
            "finetuned_top1": finetune(scorer, spec, key, args) if args.finetune else {},
            "score_s": seconds,
            "gmacs": fidelity["gmacs"].get(name),
            "width_multiplier": spec.width_multiplier,
            "image_size": spec.image_size,
            "attn_types": _attn_types(spec),
            "attn_blocks": list(spec.attn_blocks),
            "ir_depths": list(spec.ir_depths),
            "ffn_multiplier": spec.ffn_multiplier,
        }
        scored.append(row)
        tuned = " ".join(f"{k}: {v:.3f}" for k, v in row["finetuned_top1"].items())
        print(
            f"{name:>20}: inherited {top1:.3f} reference {reference[name]:.3f} ({seconds:.2f} s)"
            + (f"; fine-tuned {tuned}" if tuned else ""),
            flush=True,
        )

    inherited = [r["inherited_top1"] for r in scored]
    ref = [r["reference_top1"] for r in scored]
    leave_one_out = [
        _tau(inherited[:i] + inherited[i + 1 :], ref[:i] + ref[i + 1 :]) for i in range(len(ref))
    ]
    leave_one_out = [t for t in leave_one_out if t is not None]
    top = next(
        r
        for r in fidelity["rows"]
        if r["ladder"] == "wsd"
        and r["bn"] == "recalibrated"
        and r["rung"] == fidelity_top(fidelity)
    )
    mean_reference_cpu_s = top["cpu_s_per_spec"]
    summary = {
        "recipe": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "num_random": args.num_random,
            "teacher": args.teacher,
            "attention_free": args.attention_free,
            "bn_images": args.bn_images,
            "resolution_scale": args.resolution_scale,
            "gmacs": args.gmacs,
            "train_size": args.train_size,
            "val_size": args.val_size,
            "score_val": args.score_val,
            "score_val_seed": args.score_val_seed if args.score_val else None,
            "seed": args.seed,
            "train_config": dataclasses.asdict(scorer.cfg),
        },
        "supernet": {
            "run_key": key,
            "run_dir": str(result.run_dir),
            "steps": result.step,
            "cached": result.cached,
            "resolution": scorer.resolution,
            "largest": result.largest.to_dict(),
            "smallest": result.smallest.to_dict(),
            "final_ce": result.history[-1]["ce"] if result.history else None,
            "final_distill": result.history[-1]["distill"] if result.history else None,
            "train_cpu_s": train_cpu_s,
            "train_wall_s": train_wall_s,
            "images_cpu_s": images_cpu_s,
        },
        "n": len(scored),
        "against": against(scored, args.finetune),
        "kendall_tau": _tau(inherited, ref),
        "spearman": _spearman(inherited, ref),
        "kendall_tau_leave_one_out": [min(leave_one_out), max(leave_one_out)]
        if leave_one_out
        else None,
        "mean_reference_cpu_s": mean_reference_cpu_s,
        "cost_in_reference_runs": None
        if train_cpu_s is None
        else train_cpu_s / mean_reference_cpu_s,
        "score_s_per_candidate": statistics.fmean(r["score_s"] for r in scored) if scored else None,
        "score_s_median": statistics.median(r["score_s"] for r in scored) if scored else None,
        "fidelity_rungs": [
            {
                "ladder": r["ladder"],
                "rung": r["rung"],
                "bn": r["bn"],
                "tau_reference_cross": r["tau_reference_cross"],
                "cpu_s_per_spec": r["cpu_s_per_spec"],
            }
            for r in fidelity["rows"]
            if r["bn"] == "recalibrated" or r["ladder"] == "old_proxy"
        ],
        "by_attn_type": _groups(scored, "attn_types"),
        "by_width": _groups(scored, "width_multiplier"),
        "by_image_size": _groups(scored, "image_size"),
        "scored": scored,
        "skipped": skipped,
        "command": " ".join(sys.argv),
    }
    summary["wall_s"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(out_json, summary)
    plot(summary, args.out / "bench_supernet.png")

    print(
        f"\nn={summary['n']} kendall tau-b {_fmt(summary['kendall_tau'])} spearman "
        f"{_fmt(summary['spearman'])} (leave-one-out tau {summary['kendall_tau_leave_one_out']})"
    )
    print(
        f"supernet training {_fmt(train_cpu_s)} CPU-s = "
        f"{_fmt(summary['cost_in_reference_runs'])} mean reference runs "
        f"({mean_reference_cpu_s:.1f} CPU-s each); scoring "
        f"{_fmt(summary['score_s_per_candidate'])} "
        f"s per candidate (median {_fmt(summary['score_s_median'])})"
    )
    print("\ntau (Spearman, n) against the reference of seed 0 / seed 1 / their mean:")
    for score, taus in summary["against"].items():
        cells = [f"{_fmt(t['tau'])} ({_fmt(t['spearman'])}, {t['n']})" for t in taus.values()]
        print(f"  {score:>16}: " + " / ".join(cells))
    for r in summary["fidelity_rungs"]:
        print(
            f"  fidelity {r['ladder']:>9} rung {r['rung']:>4} ({r['bn']} BN): tau_reference_cross "
            f"{_fmt(r['tau_reference_cross'])} at {_fmt(r['cpu_s_per_spec'])} CPU-s per spec"
        )
    for key_ in ("attn_types", "width_multiplier", "image_size"):
        name = {"attn_types": "by_attn_type", "width_multiplier": "by_width"}.get(
            key_, "by_image_size"
        )
        print(f"\n{key_:>16} {'n':>3} {'inherited':>10} {'reference':>10} {'tau':>6}  specs")
        for g in summary[name]:
            print(
                f"{g[key_]!s:>16} {g['n']:>3} {g['mean_inherited_top1']:>10.3f} "
                f"{g['mean_reference_top1']:>10.3f} {_fmt(g['tau']):>6}  {' '.join(g['specs'])}"
            )
    print(f"\nskipped: {[s['name'] for s in skipped]}")
    print(f"wrote {out_json} and {args.out / 'bench_supernet.png'} ({summary['wall_s']:.0f} s)")
    return 0


def finetune(scorer: SupernetScorer, spec: ArchSpec, key: str, args: argparse.Namespace) -> dict:
    """`{rung: top-1}` of `spec`'s inherited weights trained on for `args.finetune` steps with the
    fidelity benchmark's `wsd` recipe (its schedule laid over the last of them, BN re-estimated),
    on the same data and seed as the reference; cached like every run under `runs/train/`."""
    ladder = bench_fidelity.ladders(bench_fidelity.parse_args([]))["wsd"]
    weights = args.out / "inherited" / key / f"{spec.signature[:16]}.pt"
    if not weights.is_file():
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(scorer.supernet().supernet.extract(spec).state_dict(), weights)
    rungs = sorted(args.finetune)
    trainer = dataclasses.replace(
        ladder.trainer,
        name="supft",
        schedule_steps=rungs[-1],
        eval_steps=rungs,
        warmup_steps=max(1, rungs[0] // 4),
        init_from=str(weights),
    )
    ladder = dataclasses.replace(ladder, trainer=trainer, rungs=tuple(rungs))
    evaluator = bench_fidelity._evaluator(ladder, args.seed, str(args.runs_dir))
    result = evaluator.proxy_train(spec, rungs[-1])
    scored = {str(row["step"]): row.get("top1") for row in result.history}
    return {str(r): scored[str(r)] for r in rungs if scored.get(str(r)) is not None}


def against(scored: list[dict[str, Any]], rungs: list[int]) -> dict[str, dict[str, Any]]:
    """Kendall tau-b, Spearman and n of the inherited (and each fine-tuned rung's) top-1 against
    the seed-0 reference, the seed-1 one and their mean, over the specs that have both."""
    scores = {"inherited": lambda r: r["inherited_top1"]}
    for rung in sorted(rungs):
        scores[f"finetuned_{rung}"] = lambda r, k=str(rung): r["finetuned_top1"].get(k)
    references = {
        "seed0": lambda r: r["reference_top1"],
        "seed1": lambda r: r["reference_seed1_top1"],
        "mean": lambda r: r["reference_mean_top1"],
    }
    table: dict[str, dict[str, Any]] = {}
    for score, get in scores.items():
        table[score] = {}
        for name, ref in references.items():
            pairs = [(get(r), ref(r)) for r in scored if None not in (get(r), ref(r))]
            x, y = [p[0] for p in pairs], [p[1] for p in pairs]
            table[score][name] = {"tau": _tau(x, y), "spearman": _spearman(x, y), "n": len(pairs)}
    return table


def references(
    fidelity: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float]]:
    """`({spec: seed-0 reference top-1}, {spec: seed-1 ...})`: on the reference runs' own 1,000
    validation images, or (`--score-val`) on the larger set the fidelity benchmark rescored them on.

    Raises:
        SystemExit: when the fidelity benchmark has no rescoring on that set.
    """
    if args.score_val is None:
        return fidelity["reference"]["top1"], fidelity["reference"].get("seed1_top1", {})
    large = fidelity.get("reference_large_val")
    wanted = (args.score_val, args.score_val_seed)
    if large is None or (large["val_size"], large["val_seed"]) != wanted:
        raise SystemExit(
            f"{args.fidelity}: no references rescored on {wanted[0]} images of data seed "
            f"{wanted[1]}; run bench_fidelity.py --rescore-val {wanted[0]} --rescore-seed "
            f"{wanted[1]} first"
        )
    seed0 = {k: v for k, v in large["top1"].items() if v is not None}
    seed1 = {k: v for k, v in large["seed1_top1"].items() if v is not None}
    return seed0, seed1


def fidelity_top(fidelity: dict[str, Any]) -> int:
    """The top rung of the fidelity benchmark's `wsd` ladder (its reference)."""
    return max(r["rung"] for r in fidelity["rows"] if r["ladder"] == "wsd")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    sys.exit(main())
