"""Training throughput of the MobileViTv2 presets, and the proxy budget's cost and accuracy.

Part `throughput`: images/s of one full training step (bf16-autocast or fp32 forward, loss,
backward, gradient clipping, AdamW) on a fixed random batch, so data loading is excluded. All
(preset, resolution, precision) cells are timed in interleaved rounds, so machine drift hits them
alike; the table reports the median step time of each and bf16/fp32 as a ratio.

Part `proxy`: `trainer=proxy` (conf/trainer/proxy.yaml) on the embedded data set for
`mobilevitv2_050`, as `python train.py` runs it: wall time, images/s and top-1.

    python benchmarks/bench_train.py [--part throughput proxy] [--presets ...] [--sizes 128 256]
        [--device cpu|cuda] [--batch 16] [--rounds 3] [--steps 3]

Writes runs/benchmarks/bench_train.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mv2search.arch import PRESETS, build_model
from mv2search.train.numerics import clip_gradients, loss_fn, use_bf16
from mv2search.train.optim import build_optimizer

V2_PRESETS = [name for name in sorted(PRESETS) if name.startswith("mobilevitv2_")]


class _Cell:
    """One (preset, resolution, precision) model with its optimizer and fixed batch."""

    def __init__(self, name: str, size: int, precision: str, batch: int, device: str) -> None:
        self.key = {"preset": name, "image_size": size, "precision": precision, "batch": batch}
        self.device = torch.device(device)
        self.model = build_model(PRESETS[name]).to(self.device).train()
        self.optimizer = build_optimizer(self.model, 1e-3, 0.01, (0.9, 0.999))
        self.images = torch.randn(batch, 3, size, size, device=self.device)
        self.labels = torch.randint(0, 1000, (batch,), device=self.device)
        self.bf16 = use_bf16(precision, self.device)
        self.times: list[float] = []

    def step(self) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(self.images)
        loss = loss_fn(logits.float(), self.labels, 0.1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.model, 10.0)
        self.optimizer.step()

    def time_steps(self, steps: int) -> None:
        for _ in range(steps):
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            self.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - start)

    def row(self) -> dict:
        seconds = statistics.median(self.times)
        return {**self.key, "step_s": seconds, "images_per_s": self.key["batch"] / seconds}


def throughput(args: argparse.Namespace) -> list[dict]:
    """Interleaved timing of every cell; returns one row per cell."""
    cells = [
        _Cell(name, size, precision, args.batch, args.device)
        for name in args.presets
        for size in args.sizes
        for precision in args.precisions
    ]
    for cell in cells:  # warm-up: allocator, oneDNN primitive caches
        cell.time_steps(1)
        cell.times.clear()
    for round_index in range(args.rounds):
        for cell in cells:
            cell.time_steps(args.steps)
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    rows = [cell.row() for cell in cells]
    fp32 = {(r["preset"], r["image_size"]): r["step_s"] for r in rows if r["precision"] == "fp32"}
    for row in rows:
        reference = fp32.get((row["preset"], row["image_size"]))
        row["speed_vs_fp32"] = reference / row["step_s"] if reference else None
    return rows


def proxy(args: argparse.Namespace) -> dict:
    """One `trainer=proxy` run of mobilevitv2_050 on the embedded set, in a fresh run folder."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from mv2search.apps.config import register_train_configs
    from mv2search.train import run_train

    register_train_configs()
    conf = Path(__file__).resolve().parents[1] / "conf"
    overrides = ["arch=mobilevitv2_050", "trainer=proxy", f"torch_device={args.device}"]
    overrides += [f"out_dir=runs/benchmarks/bench_train_proxy_{int(time.time())}"]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("train", overrides=overrides))
    started = time.perf_counter()
    result = run_train(cfg)
    return {
        "status": result.status,
        "top1": result.top1,
        "top5": result.top5,
        "epochs": result.epochs,
        "train_and_eval_s": result.wall_s,
        "process_s": time.perf_counter() - started,  # includes data generation or cache read
        "images_per_s": result.images_per_s,
        "trainer": OmegaConf.to_container(OmegaConf.structured(cfg.trainer)),
    }


def main() -> int:
    """Run the chosen parts and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="*", default=["throughput", "proxy"])
    parser.add_argument("--presets", nargs="*", default=V2_PRESETS)
    parser.add_argument("--sizes", nargs="*", type=int, default=[128, 256])
    parser.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/bench_train.json"))
    args = parser.parse_args()
    report: dict = {"device": args.device, "threads": torch.get_num_threads()}
    if "throughput" in args.part:
        report["throughput"] = throughput(args)
        print(f"{'preset':18} {'px':>4} {'prec':>5} {'img/s':>8} {'vs fp32':>8}")
        for row in report["throughput"]:
            ratio = f"{row['speed_vs_fp32']:.2f}" if row["speed_vs_fp32"] else "-"
            print(
                f"{row['preset']:18} {row['image_size']:>4} {row['precision']:>5} "
                f"{row['images_per_s']:>8.1f} {ratio:>8}"
            )
    if "proxy" in args.part:
        report["proxy"] = proxy(args)
        print(json.dumps({k: v for k, v in report["proxy"].items() if k != "trainer"}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
