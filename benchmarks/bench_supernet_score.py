"""Seconds to score one candidate with `evaluator.accuracy=supernet`, on one thread.

    python benchmarks/bench_supernet_score.py                # 20 candidates, a 20-step supernet
    python benchmarks/bench_supernet_score.py --steps 300    # the default recipe's supernet

Candidates: `--candidates` (20) distinct specs drawn with a fixed seed from the `mv2` space
within the default budget (0.5 GMACs). The supernet is trained (or read from its cache under
`<runs-dir>/supernet/`) briefly, `--steps` sandwich steps, since only the scoring time matters
here: a score is `extract(spec)`, BatchNorm re-estimation on `--bn-images` (320) training images
and top-1 on the embedded set's default validation split (2,000 images), at `image_size x 0.25`
px, exactly as the search's evaluator does it (`Evaluator` with `accuracy=supernet`). Prints the
one-off cost (supernet and images) and the median and max seconds per candidate (`score_s`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mv2search.cost.device import DeviceProfile
from mv2search.data import DataOptions
from mv2search.search.evaluator import Evaluator
from mv2search.search.settings import EvaluatorConfig, SupernetScoreConfig, TrainingSetup
from mv2search.search.space import load_space, spaces_dir
from mv2search.study.objectives import Budget, exact_metrics
from mv2search.train import TrainerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="supernet training steps")
    parser.add_argument("--bn-images", type=int, default=SupernetScoreConfig.bn_images)
    parser.add_argument("--gmacs", type=float, default=0.5, help="the budget (default search's)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import yaml

    space = load_space("mv2")
    mapping = yaml.safe_load((spaces_dir() / "mv2.yaml").read_text())
    budget = Budget("gmacs", args.gmacs)
    specs, seen = [], set()
    for spec in space.sample(50 * args.candidates, seed=args.seed):
        if exact_metrics(spec, ("gmacs",))["gmacs"] <= args.gmacs and spec.signature not in seen:
            specs.append(spec)
            seen.add(spec.signature)
        if len(specs) == args.candidates:
            break
    settings = EvaluatorConfig(
        accuracy="supernet",
        torch_device="cpu",
        supernet=SupernetScoreConfig(steps=args.steps, bn_images=args.bn_images),
    )
    training = TrainingSetup(
        TrainerConfig(), "embedded", DataOptions().under(args.runs_dir), args.seed
    )
    evaluator = Evaluator(
        ("accuracy",),
        training,
        DeviceProfile(name="unused"),
        settings,
        args.runs_dir,
        space=mapping,
        budgets=(budget,),
    )
    started = time.perf_counter()
    scorer = evaluator.scorer
    result = scorer.supernet()
    scorer.images()
    setup_s = time.perf_counter() - started
    print(
        f"supernet: {result.step} steps ({'cached' if result.cached else 'trained'}), "
        f"{scorer.resolution} px; images: {sum(len(x) for x in scorer.bn_batches)} BN, "
        f"{sum(len(x) for x, _ in scorer.val_batches)} val; one-off {setup_s:.1f} s"
    )
    seconds = []
    for i, spec in enumerate(specs):
        metrics = evaluator(spec)
        seconds.append(metrics["score_s"])
        print(
            f"{i:2d} {spec.signature[:12]} {spec.image_size:3d} px "
            f"{metrics['gmacs']:.3f} GMACs top-1 {metrics['accuracy']:.3f} "
            f"{metrics['score_s']:.2f} s"
        )
    print(
        f"seconds per candidate over {len(seconds)} (1 thread): median "
        f"{statistics.median(seconds):.2f}, max {max(seconds):.2f}, mean "
        f"{statistics.fmean(seconds):.2f}"
    )


if __name__ == "__main__":
    main()
