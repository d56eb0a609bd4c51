"""Difficulty of the embedded data set: a linear classifier on pixels vs mobilevitv2_050.

    python benchmarks/bench_difficulty.py                        # 64 px, trainer=proxy
    python benchmarks/bench_difficulty.py --image-sizes 64 96 --budget-s 300 --threads 2
    python benchmarks/bench_difficulty.py --quick                # small set, 20 s (smoke test)

The set is generated (or read from its cache), then (a) logistic regression on the flattened,
normalised pixels (AdamW, a few epochs, no augmentation) and (b) mobilevitv2_050 at each image
size, trained from scratch by the real trainer with `conf/trainer/<--trainer>.yaml` (default the
search's proxy: 3 epochs, AdamW with the paper's LR table, warm-up + cosine, label smoothing 0.1,
the `light` policy), optionally capped at `--budget-s` seconds, are scored by val top-1 overall
and per class. The target (see `mv2search.data.embedded`): linear far below the network, the
network at 60-90 % within a few CPU minutes, so that architectures can be told apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mv2search.arch import get_preset
from mv2search.data import (
    CLASS_NAMES,
    DataOptions,
    EmbeddedShapes,
    build_datasets,
    collate_skip,
)
from mv2search.data.embedded import GENERATOR_VERSION
from mv2search.data.scenes import NUISANCE
from mv2search.train import TrainRun, load_trainer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--trainer", default="proxy", help="conf/trainer/<name>.yaml or a path")
    parser.add_argument("--budget-s", type=float, default=0.0, help="cap on training seconds")
    parser.add_argument("--train-size", type=int, default=DataOptions.embedded_train_size)
    parser.add_argument("--val-size", type=int, default=DataOptions.embedded_val_size)
    parser.add_argument("--linear-epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="default runs/data/embedded")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/bench_difficulty.json"))
    parser.add_argument("--quick", action="store_true", help="2,000 images, 20 s, 1 linear epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.val_size, args.budget_s, args.linear_epochs = 2000, 500, 20.0, 1
    return args


def machine_header(args: argparse.Namespace) -> dict[str, Any]:
    """Where and how the figures were measured."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": args.threads,
        "commit": commit,
        "argv": sys.argv[1:],
    }


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset, batch_size: int = 250) -> dict[str, Any]:
    """Top-1 accuracy of `model` on `dataset` (eval mode), overall and per class."""
    model.eval()
    predictions, targets = [], []
    for images, labels, _ in DataLoader(dataset, batch_size, collate_fn=collate_skip):
        predictions.append(model(images).argmax(1))
        targets.append(labels)
    model.train()
    predicted, target = torch.cat(predictions), torch.cat(targets)
    correct = (predicted == target).float()
    classes = int(target.max()) + 1
    per_class = torch.zeros(classes).index_add_(0, target, correct) / torch.bincount(target)
    return {
        "top1": correct.mean().item(),
        "per_class_top1": [round(v, 3) for v in per_class.tolist()],
    }


def run_linear(train_set, val_set, image_size: int, epochs: int, seed: int) -> dict[str, float]:
    """Logistic regression on flattened normalised pixels of un-augmented images, AdamW."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * image_size**2, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    shuffle = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        for images, labels, _ in DataLoader(
            train_set, 256, shuffle=True, generator=shuffle, collate_fn=collate_skip
        ):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    val = evaluate(model, val_set)
    return {
        "val_top1": val["top1"],
        "val_per_class_top1": val["per_class_top1"],
        "train_top1": evaluate(model, train_set)["top1"],
        "seconds": time.perf_counter() - start,
        "epochs": epochs,
    }


def run_network(args: argparse.Namespace, image_size: int) -> dict[str, Any]:
    """Generate the set at `image_size`, train the linear model and mobilevitv2_050, score both."""
    options = DataOptions(
        embedded_train_size=args.train_size,
        embedded_val_size=args.val_size,
        cache_dir=args.cache_dir,
    )
    start = time.perf_counter()
    data = build_datasets("embedded", image_size, policy="light", seed=args.seed, options=options)
    data_seconds = time.perf_counter() - start
    print(f"[{image_size}px] data ready in {data_seconds:.1f} s", file=sys.stderr)
    plain = EmbeddedShapes(
        "train", image_size, args.train_size, args.seed, cache_dir=args.cache_dir
    )  # the same images, eval transform
    linear = run_linear(plain, data.val, image_size, args.linear_epochs, args.seed)
    print(f"[{image_size}px] linear val top-1 {linear['val_top1']:.3f}", file=sys.stderr)
    spec = dataclasses.replace(get_preset("mobilevitv2_050"), image_size=image_size)
    trainer = dataclasses.replace(
        load_trainer(args.trainer),
        image_size=image_size,
        max_minutes=args.budget_s / 60 if args.budget_s else None,
    )
    run = TrainRun(spec, data, trainer, seed=args.seed)
    result = run.fit()
    val = evaluate(run.model, data.val)
    network = {
        "seconds": result.wall_s,
        "epochs": result.epochs,
        "steps": result.steps,
        "images_per_s": result.images_per_s,
        "final_loss": result.train_loss,
        "val_top1": val["top1"],
        "val_per_class_top1": val["per_class_top1"],
        "trainer": dataclasses.asdict(trainer),
    }
    print(
        f"[{image_size}px] mobilevitv2_050 val top-1 {network['val_top1']:.3f} after "
        f"{result.wall_s:.0f} s ({result.epochs:.1f} epochs)",
        file=sys.stderr,
    )
    return {
        "image_size": image_size,
        "data_seconds": data_seconds,
        "linear": linear,
        "mobilevitv2_050": network,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write its JSON (see the module docstring)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {
        "header": machine_header(args),
        "train_size": args.train_size,
        "val_size": args.val_size,
        "budget_s": args.budget_s,
        "chance": 0.1,
        "class_names": list(CLASS_NAMES),
        "generator_version": GENERATOR_VERSION,
        "nuisance": dataclasses.asdict(NUISANCE),
        "runs": [run_network(args, size) for size in args.image_sizes],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
