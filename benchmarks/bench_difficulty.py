"""Difficulty of the embedded data set: a linear classifier on pixels vs mobilevitv2_050.

    python benchmarks/bench_difficulty.py                        # 64 px, 180 s of training
    python benchmarks/bench_difficulty.py --image-sizes 64 96 --budget-s 300 --threads 2
    python benchmarks/bench_difficulty.py --quick                # small set, 20 s (smoke test)

The set is generated (or read from its cache), then (a) logistic regression on the flattened,
normalised pixels (AdamW, a few epochs, no augmentation) and (b) mobilevitv2_050 at each image
size, trained from scratch for a fixed wall-clock budget by `train_for_budget` (AdamW, cosine
schedule over the budget, label smoothing 0.1, the `light` policy), are scored by val top-1.
The target (see `mv2search.data.embedded`): linear far below the network, the network at 60-90 %
within ~3 CPU minutes, so that architectures can be told apart. Results go to JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mv2search.arch import build_model, get_preset
from mv2search.data import (
    CLASS_NAMES,
    DataOptions,
    EmbeddedShapes,
    build_datasets,
    collate_skip,
)
from mv2search.data.embedded import GENERATOR_VERSION
from mv2search.data.scenes import NUISANCE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--budget-s", type=float, default=180.0, help="training seconds per size")
    parser.add_argument(
        "--max-samples",
        type=int,
        default=0,
        help="also stop after this many training samples (0 = time only)",
    )
    parser.add_argument("--train-size", type=int, default=DataOptions.embedded_train_size)
    parser.add_argument("--val-size", type=int, default=DataOptions.embedded_val_size)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
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


@dataclass(frozen=True)
class Budget:
    """How `train_for_budget` trains."""

    seconds: float = 180.0  # wall-clock training time
    max_samples: int = 0  # also stop after this many samples (0 = time only)
    lr: float = 2e-3  # peak AdamW learning rate
    batch_size: int = 64
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0  # shuffling


def lr_scale(fraction: float, warmup: float = 0.05) -> float:
    """Linear warm-up over the first `warmup` of the budget, then cosine decay to 0."""
    return min(1.0, fraction / warmup) * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))


def train_for_budget(model: torch.nn.Module, train_set, budget: Budget) -> dict[str, float]:
    """Train `model` until the budget (seconds, or samples) is spent: AdamW, `lr_scale` over the
    budget, cross-entropy with label smoothing. The single place to swap in `mv2search.train`.

    Returns:
        `{"seconds", "samples", "steps", "epochs", "final_loss"}`.
    """
    optimizer = torch.optim.AdamW(model.parameters(), budget.lr, weight_decay=budget.weight_decay)
    shuffle = torch.Generator().manual_seed(budget.seed)
    start, samples, steps, epoch, loss = time.perf_counter(), 0, 0, 0, torch.tensor(0.0)

    def progress() -> float:
        used = (time.perf_counter() - start) / budget.seconds
        return max(used, samples / budget.max_samples) if budget.max_samples else used

    while progress() < 1:
        train_set.set_epoch(epoch)
        loader = DataLoader(
            train_set,
            budget.batch_size,
            shuffle=True,
            generator=shuffle,
            drop_last=True,
            collate_fn=collate_skip,
        )
        for images, labels, _ in loader:
            if (fraction := progress()) >= 1:
                break
            for group in optimizer.param_groups:
                group["lr"] = budget.lr * lr_scale(fraction)
            loss = F.cross_entropy(model(images), labels, label_smoothing=budget.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            samples, steps = samples + len(labels), steps + 1
        epoch += 1
    return {
        "seconds": time.perf_counter() - start,
        "samples": samples,
        "steps": steps,
        "epochs": samples / len(train_set),
        "final_loss": float(loss.detach()),
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
    spec = dataclasses.replace(
        get_preset("mobilevitv2_050"), num_classes=data.num_classes, image_size=image_size
    )
    torch.manual_seed(args.seed)
    model = build_model(spec)
    budget = Budget(args.budget_s, args.max_samples, args.lr, args.batch_size, seed=args.seed)
    run = train_for_budget(model, data.train, budget)
    val = evaluate(model, data.val)
    network = {**run, "val_top1": val["top1"], "val_per_class_top1": val["per_class_top1"]}
    print(
        f"[{image_size}px] mobilevitv2_050 val top-1 {network['val_top1']:.3f} after "
        f"{run['seconds']:.0f} s ({run['epochs']:.1f} epochs)",
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
