"""Latency predictor accuracy and measurement repeatability on this machine.

1. Predictor: on `--n` random specs of a search space (all attention types), measured vs predicted
   latency: MAPE, share within +-10 %, Kendall tau. The calibration is fitted on `--calibration`
   other random specs measured in the same interleaved pass. Writes a scatter plot (PNG) and JSON.
2. Repeatability: the coefficient of variation of the median latency across 3 separate processes,
   for the seven MobileViTv2 presets on each CPU backend (eager and ONNX Runtime, one thread).

    python benchmarks/bench_latency.py [--device cpu_ort_1t] [--space mv2] [--n 50]
        [--calibration 30] [--part predictor|repeatability|all] [--out runs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mv2search.arch import PRESETS
from mv2search.cost.device import DeviceProfile
from mv2search.cost.latency import measure_latency
from mv2search.cost.predictor import LatencyPredictor
from mv2search.cost.store import LatencyStore
from mv2search.cost.validation import validate_predictor
from mv2search.search import load_space

V2_PRESETS = [name for name in PRESETS if name.startswith("mobilevitv2")]


def bench_predictor(args: argparse.Namespace) -> dict:
    """Validate the predictor of `args.device` on random specs of `args.space`."""
    space = load_space(args.space)
    predictor = LatencyPredictor(args.device, LatencyStore(args.store))
    start = time.perf_counter()
    report = validate_predictor(
        predictor,
        space.sample(args.calibration, seed=args.seed + 1),
        space.sample(args.n, seed=args.seed + 2),
    )
    stem = args.out / f"bench_latency_predictor_{predictor.profile.name}_{space.name}"
    report.write(stem.with_suffix(".json"), stem.with_suffix(".png"))
    print(report.summary(), f"({time.perf_counter() - start:.0f} s); wrote {stem}.json/.png")
    return {
        "summary": report.summary(),
        "mape": report.mape,
        "within_10pct": report.within_10pct,
        "kendall_tau": report.kendall_tau,
        "calibration": report.meta["calibration"],
    }


def bench_repeatability(args: argparse.Namespace) -> list[dict]:
    """CV of the median across 3 processes, v2 presets x CPU backends (one thread, 256 px)."""
    rows = []
    for name in V2_PRESETS:
        for backend in ("eager", "onnxruntime"):
            profile = DeviceProfile(name=f"cpu_{backend}_1t", backend=backend, processes=3)
            stats = measure_latency(PRESETS[name], profile)
            rows.append(
                {
                    "preset": name,
                    "backend": backend,
                    "median_ms": stats.median_ms,
                    "process_medians_ms": list(stats.process_medians_ms),
                    "cv": stats.process_cv,
                }
            )
            print(
                f"{name:16} {backend:11} median {stats.median_ms:7.2f} ms, processes "
                f"{[round(m, 1) for m in stats.process_medians_ms]}, CV {stats.process_cv:.3f}",
                flush=True,
            )
    return rows


def main() -> int:
    """Run the parts asked for and write `bench_latency.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu_ort_1t")
    parser.add_argument("--space", default="mv2")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--calibration", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=["predictor", "repeatability", "all"], default="all")
    parser.add_argument("--store", default="runs/latency.sqlite")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = parser.parse_args()
    result: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    if args.part in ("predictor", "all"):
        result["predictor"] = bench_predictor(args)
    if args.part in ("repeatability", "all"):
        result["repeatability"] = bench_repeatability(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_latency_{args.part}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
