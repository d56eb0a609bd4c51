"""Can a network learn the embedded set's slowest cues? The triangle and square classes alone.

    python benchmarks/bench_cues.py                                  # mobilevitv2_050, 56 px
    python benchmarks/bench_cues.py --model cnn --image-size 40      # a plain 4-layer CNN
    python benchmarks/bench_cues.py --lrs 0.002 0.001 --steps 800 --workers 2

Why it exists: the fidelity benchmark's reference (README, "Multi-fidelity search") ranks specs
by how far they learn the relational cues that split the triangle (one hue, or one object in
another hue) and the square (one size, or one object smaller); the arrangement is learned within
a few hundred steps by every spec. This isolates those cues: the 4,000 training images of the
four classes (10,000-image embedded set, seed 0), no augmentation, no label smoothing, AdamW
(weight decay 0.05) at a constant LR, batch 64, one thread per run. Every `--every` steps the 400
validation images of the four classes are scored with batch statistics (the model in training
mode, under no_grad, so no stale BatchNorm averages enter) and split into the two decisions:
`arrangement` (triangle vs square, learned first) and `cue` (same vs odd; 0.5 is chance).
(Generator version 2 split these arrangements by stripes vs dots; `git show 47c887b` has that
generator and this benchmark as it measured it.)

Writes `runs/benchmarks/bench_cues.json`: per (model, LR) the curve of step, train loss, 4-way,
cue and arrangement accuracy, and seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mv2search.arch import build_model, get_preset
from mv2search.data.embedded import load_or_generate
from mv2search.data.scenes import CLASS_NAMES

# in class order: triangle_same, triangle_odd_hue, square_same, square_odd_size
CUE_CLASSES = [CLASS_NAMES.index(n) for n in CLASS_NAMES if n.startswith(("triangle_", "square_"))]


def plain_cnn(classes: int) -> nn.Module:
    """Four 3x3 convolutions (32-64-64-128 channels, two of stride 2), BN + ReLU, global pool."""
    layers: list[nn.Module] = []
    for c_in, c_out, stride in ((3, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)):
        layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def _split(split: str, size: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_or_generate(0, split, size, image_size)
    keep = np.isin(labels, CUE_CLASSES)
    x = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).float() / 255.0
    y = torch.tensor([CUE_CLASSES.index(int(c)) for c in labels[keep]])
    return (x - 0.5) / 0.25, y


def run(job: tuple[str, int, float, int, int]) -> dict[str, Any]:
    """Train one (model, image size, LR) for `steps`; the curve."""
    model_name, image_size, lr, steps, every = job
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x_train, y_train = _split("train", 10_000, image_size)
    x_val, y_val = _split("val", 1_000, image_size)
    if model_name == "cnn":
        net = plain_cnn(4)
    else:
        spec = get_preset(model_name).replace(image_size=image_size, num_classes=4, name="")
        net = build_model(spec)
    optimiser = torch.optim.AdamW(net.parameters(), lr, weight_decay=0.05)
    generator = torch.Generator().manual_seed(0)
    curve, start = [], time.monotonic()
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(y_train), (64,), generator=generator)
        loss = F.cross_entropy(net(x_train[batch]), y_train[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % every == 0:
            with torch.no_grad():  # training mode: batch statistics
                predicted = net(x_val).argmax(1)
            curve.append(
                {
                    "step": step,
                    "train_loss": round(float(loss), 4),
                    "four_way": float((predicted == y_val).float().mean()),
                    "cue": float((predicted % 2 == y_val % 2).float().mean()),
                    "arrangement": float((predicted // 2 == y_val // 2).float().mean()),
                    "seconds": round(time.monotonic() - start, 1),
                }
            )
            print(f"{model_name} {image_size}px lr {lr:g} {curve[-1]}", flush=True)
    return {"model": model_name, "image_size": image_size, "lr": lr, "curve": curve}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilevitv2_050", help="a preset name, or cnn")
    parser.add_argument("--image-size", type=int, default=56)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.002, 0.001])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/bench_cues.json"))
    args = parser.parse_args(argv)
    jobs = [(args.model, args.image_size, lr, args.steps, args.every) for lr in args.lrs]
    load_or_generate(0, "train", 10_000, args.image_size)  # generate once, before the workers
    load_or_generate(0, "val", 1_000, args.image_size)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run, jobs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else []
    done = {(r["model"], r["image_size"], r["lr"]) for r in results}
    kept = [r for r in previous if (r["model"], r["image_size"], r["lr"]) not in done]
    args.out.write_text(json.dumps(kept + results, indent=1))
    for r in results:
        last = r["curve"][-1]
        print(
            f"{r['model']} {r['image_size']} px, lr {r['lr']:g}: after {last['step']} steps "
            f"cue {last['cue']:.3f}, arrangement {last['arrangement']:.3f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
