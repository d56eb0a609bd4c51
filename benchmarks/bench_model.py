"""CPU latency of the published presets: eager PyTorch against ONNX Runtime, at 1 and 2 threads.

    python benchmarks/bench_model.py                      # all presets, 256 px, batch 1
    python benchmarks/bench_model.py --quick              # 2 presets, few iterations (smoke test)
    python benchmarks/bench_model.py --presets mobilevitv2_100 --threads 1 4 --iters 100

For each preset, one randomly initialised model is timed by
`mv2search.cost.latency.measure_latency` with both backends at every thread count. The backends are
interleaved per preset in ABBA order (eager, ORT, ORT, eager, ...) so that slow drift of the machine
(thermal, frequency, background load) hits both alike. Reported per measurement: median and IQR in
milliseconds and the achieved GMAC/s (analytic MACs / median seconds / 1e9); per thread count: the
ORT speed-up (eager median / ORT median; > 1 = ORT faster). Results go to a JSON file with a header
describing the machine; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

from mv2search.arch import PRESETS, build_model
from mv2search.cost import count_macs, count_params
from mv2search.cost.device import DeviceProfile
from mv2search.cost.latency import measure_latency

BACKENDS = ("eager", "onnxruntime")
QUICK_PRESETS = ("mobilevitv2_050", "mobilevit_xxs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=list(PRESETS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--iters", type=int, default=50, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs per measurement")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/bench_model.json"))
    parser.add_argument("--quick", action="store_true", help="2 presets, 5 iterations, 2 warmup")
    args = parser.parse_args(argv)
    if args.quick:
        args.presets, args.iters, args.warmup = list(QUICK_PRESETS), 5, 2
    return args


def machine_header() -> dict[str, Any]:
    """CPU, library versions, date and code version, so that results can be compared later."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "git_commit": commit,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def bench_preset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time one preset with every backend and thread count, ABBA-interleaved."""
    spec = PRESETS[name].replace(image_size=args.image_size)
    macs = count_macs(spec)
    model = build_model(spec).eval()
    runs: list[dict[str, Any]] = []
    for index, threads in enumerate(args.threads):
        order = BACKENDS if index % 2 == 0 else BACKENDS[::-1]
        for backend in order:
            profile = DeviceProfile(
                name=f"cpu_{backend}_{threads}t",
                backend=backend,
                threads=threads,
                batch_size=args.batch_size,
                warmup=args.warmup,
                iters=args.iters,
                onnx_exporter="dynamo",  # what a deployed model would use
            )
            stats = measure_latency(model, profile, image_size=args.image_size)
            gmacs = macs * args.batch_size / (stats.median_ms / 1e3) / 1e9
            runs.append({**stats.to_dict(), "gmacs_per_s": gmacs})
            print(
                f"  {name:16s} {backend:11s} {threads}t  {stats.median_ms:8.2f} ms "
                f"(IQR {stats.iqr_ms:.2f})  {gmacs:6.2f} GMAC/s",
                file=sys.stderr,
                flush=True,
            )
    # Other processes on the machine distort CPU timings (eager's OpenMP threads especially): keep
    # the 1-minute load average (this benchmark itself adds about 1) next to each preset's numbers.
    load = os.getloadavg()[0]
    return {
        "preset": name,
        "macs": macs,
        "params": count_params(spec),
        "loadavg_1m": load,
        "runs": runs,
    }


def ort_speedup(result: dict[str, Any], threads: int) -> float:
    """Eager median / ORT median at `threads` threads (> 1 means ONNX Runtime is faster)."""
    median = {r["backend"]: r["median_ms"] for r in result["runs"] if r["threads"] == threads}
    return median["eager"] / median["onnxruntime"]


def format_table(results: list[dict[str, Any]], thread_counts: list[int]) -> str:
    """Plain-text table: median (IQR) ms per backend and threads, GMAC/s, ORT speed-up, load."""
    head = f"{'preset':16s} {'GMACs':>6s} {'Mparams':>7s}"
    for threads in thread_counts:
        head += f" {f'eager {threads}t ms':>15s} {f'ORT {threads}t ms':>15s}"
    head += "  GMAC/s eager/ORT (1st t)  ORT speed-up per t  load"
    lines = [head, "-" * len(head)]
    for result in results:
        line = f"{result['preset']:16s} {result['macs'] / 1e9:6.3f} {result['params'] / 1e6:7.2f}"
        by_key = {(r["backend"], r["threads"]): r for r in result["runs"]}
        for threads in thread_counts:
            for backend in BACKENDS:
                run = by_key[backend, threads]
                cell = f"{run['median_ms']:.2f} ({run['iqr_ms']:.2f})"
                line += f" {cell:>15s}"
        first = thread_counts[0]
        gmacs = [by_key[backend, first]["gmacs_per_s"] for backend in BACKENDS]
        line += f"  {gmacs[0]:10.2f} / {gmacs[1]:<13.2f}"
        speedups = " ".join(f"{ort_speedup(result, t):.2f}x" for t in thread_counts)
        line += f"  {speedups:18s}  {result['loadavg_1m']:.2f}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, write the JSON file and print the table."""
    args = parse_args(argv)
    header = {**machine_header(), "image_size": args.image_size, "batch_size": args.batch_size}
    header.update(iters=args.iters, warmup=args.warmup, threads=args.threads)
    header["loadavg_1m_start"] = os.getloadavg()[0]
    print(
        f"{header['cpu']} | torch {header['torch']} | ORT {header['onnxruntime']}", file=sys.stderr
    )
    results = []
    for number, name in enumerate(args.presets, start=1):
        print(f"[{number}/{len(args.presets)}] {name}", file=sys.stderr, flush=True)
        results.append(bench_preset(name, args))
    header["loadavg_1m_end"] = os.getloadavg()[0]
    for result in results:
        result["ort_speedup"] = {str(t): ort_speedup(result, t) for t in args.threads}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"header": header, "results": results}, indent=2) + "\n")
    print(format_table(results, args.threads))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
