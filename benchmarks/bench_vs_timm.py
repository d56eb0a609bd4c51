"""Our generator's forward pass against the reference implementation (timm), side by side.

For each preset: eager PyTorch, batch 1, one thread, `inference_mode`; timm's model and ours (same
weights) are timed in alternating rounds so that machine drift hits both alike. Reports each median
and the ratio ours / timm. Needs `pip install --no-deps timm==1.0.31`.

    python benchmarks/bench_vs_timm.py [--presets NAME ...] [--image-size 256] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from mv2search.arch import PRESETS, build_model, load_timm_state_dict
from mv2search.testing import import_timm


def _time_ms(model: torch.nn.Module, x: torch.Tensor, iters: int) -> list[float]:
    times = []
    with torch.inference_mode():
        for _ in range(iters):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return times


def compare(name: str, image_size: int, rounds: int, iters: int) -> dict:
    """Median latency of timm's `name` and ours over interleaved rounds, and their ratio."""
    timm = import_timm()
    reference = timm.create_model(name).eval()
    ours = build_model(PRESETS[name]).eval()
    load_timm_state_dict(ours, reference.state_dict())
    x = torch.randn(1, 3, image_size, image_size)
    for model in (reference, ours):  # warm-up
        _time_ms(model, x, 5)
    samples: dict[str, list[float]] = {"timm": [], "ours": []}
    for _ in range(rounds):
        samples["timm"] += _time_ms(reference, x, iters)
        samples["ours"] += _time_ms(ours, x, iters)
    timm_ms, ours_ms = (statistics.median(samples[k]) for k in ("timm", "ours"))
    return {"preset": name, "timm_ms": timm_ms, "ours_ms": ours_ms, "ratio": ours_ms / timm_ms}


def main() -> int:
    """Run the comparison and write `runs/benchmarks/bench_vs_timm.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=sorted(PRESETS))
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/bench_vs_timm.json"))
    args = parser.parse_args()
    if import_timm() is None:
        print("timm is not installed: pip install --no-deps timm==1.0.31", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rows = []
    print(f"{'preset':16} {'timm ms':>9} {'ours ms':>9} {'ours/timm':>9}")
    for name in args.presets:
        row = compare(name, args.image_size, args.rounds, args.iters)
        rows.append(row)
        print(f"{name:16} {row['timm_ms']:9.2f} {row['ours_ms']:9.2f} {row['ratio']:9.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"image_size": args.image_size, "threads": 1, "batch_size": 1}
    meta["torch"] = torch.__version__
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
