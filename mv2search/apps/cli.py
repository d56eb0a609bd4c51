"""Command line of mv2search (run `mv2search --help`, or `python -m mv2search --help`).

- `presets`: the table of published presets; `cost SPEC`: params and MACs of a spec;
- `latency SPEC --device D`: measured latency (cached in `runs/latency.sqlite`);
- `build-lut --device D --space S`: measure every block the space can produce, and calibrate;
- `predict SPEC --device D`: predicted latency from the lookup table;
- `validate-lut --device D --space S`: predicted vs measured on held-out random specs;
- `repair-journal FILE`: keep a torn journal study's complete records, move the tail aside.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mv2search.arch import PRESETS, ArchSpec, load_spec, resolve_widths
from mv2search.cost import count_macs, count_params
from mv2search.cost.layout import layout
from mv2search.cost.macs import block_macs
from mv2search.cost.params import block_params

if TYPE_CHECKING:
    from mv2search.cost.predictor import LatencyPredictor
    from mv2search.search import SearchSpace

__all__ = ["main", "preset_table", "cost_report"]


def _format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def preset_table(latency: bool = False, device: str = "cpu_eager_1t", image_size: int = 256) -> str:
    """The published presets: params, MACs at `image_size`, attention types, optional CPU latency.

    Args:
        latency: Add a column of measured latency (median ms) on `device`.
        device: Device profile of the latency column (default: eager PyTorch, one CPU thread).
        image_size: Input side for MACs and latency.

    Returns:
        The table as text.
    """
    header = ["preset", "params", "MACs (M)", "attention (stages 3-5)", "layers"]
    names = PRESETS
    if latency:
        from tqdm import tqdm

        from mv2search.cost.latency import measure_latency

        header.append(f"latency ms ({device})")
        # about 10 s a preset: progress on a terminal (tqdm is quiet otherwise)
        names = tqdm(PRESETS, desc="measuring latency", unit="preset", disable=None, leave=False)
    rows = []
    for name in names:
        spec = PRESETS[name]
        spec = spec.replace(image_size=image_size)
        row = [
            name,
            f"{count_params(spec):,}",
            f"{count_macs(spec) / 1e6:,.1f}",
            "/".join(spec.attn_types),
            "/".join(map(str, spec.attn_blocks)),
        ]
        if latency:
            stats = measure_latency(spec, device)
            row.append(f"{stats.median_ms:.1f}")
        rows.append(row)
    return _format_table(header, rows)


def cost_report(spec: ArchSpec) -> str:
    """Per-block params and MACs of `spec`, its widths, totals and signature."""
    widths = resolve_widths(spec)
    rows = []
    for block in layout(spec):
        what = block.kind if block.kind != "mvit" else f"mvit {block.attn_type} x{block.depth}"
        rows.append(
            [
                what,
                f"{block.in_channels}->{block.out_channels}",
                block.side,
                f"{block_params(block, spec.block_style):,}",
                f"{block_macs(block, spec) / 1e6:,.2f}",
            ]
        )
    lines = [
        f"spec {spec.name or '(unnamed)'}  signature {spec.signature}",
        f"widths: stem {widths.stem}, stages {list(widths.stages)}, "
        f"attn dims {list(widths.attn_dims)}",
        _format_table(["block", "channels", "input side", "params", "MACs (M)"], rows),
        f"total: {count_params(spec):,} params, {count_macs(spec):,} MACs at {spec.image_size} px "
        "(MACs, not FLOPs)",
    ]
    return "\n".join(lines)


def _latency_commands(commands: argparse._SubParsersAction) -> None:
    def device_and_store(command: argparse.ArgumentParser) -> None:
        command.add_argument("--device", default="cpu_ort_1t", help="device profile name or YAML")
        command.add_argument("--store", default="runs/latency.sqlite", help="latency store file")

    latency = commands.add_parser("latency", help="measure the latency of a spec (cached)")
    latency.add_argument("spec", help="a preset name or a spec YAML/JSON file")
    device_and_store(latency)
    predict = commands.add_parser("predict", help="predict the latency of a spec from the LUT")
    predict.add_argument("spec", help="a preset name or a spec YAML/JSON file")
    device_and_store(predict)
    build = commands.add_parser("build-lut", help="measure every block of a space, calibrate")
    build.add_argument("--space", default="mv2", help="search space name or YAML")
    build.add_argument("--calibration", type=int, default=30, help="calibration networks")
    device_and_store(build)
    check = commands.add_parser("validate-lut", help="predicted vs measured on random specs")
    check.add_argument("--space", default="mv2", help="search space name or YAML")
    check.add_argument("--n", type=int, default=50, help="validation networks")
    check.add_argument("--calibration", type=int, default=30, help="calibration networks")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--out", default="runs/latency", help="folder for the JSON and PNG")
    device_and_store(check)


def _run_latency_command(args: argparse.Namespace) -> None:
    from mv2search.cost.predictor import LatencyPredictor
    from mv2search.cost.store import LatencyStore, cached_latency

    store = LatencyStore(args.store)
    if args.command == "latency":
        stats, hit = cached_latency(load_spec(args.spec), args.device, store)
        print(
            f"{stats.median_ms:.3f} ms median (IQR {stats.iqr_ms:.3f}, p90 {stats.p90_ms:.3f}, "
            f"{stats.runs} runs{', from the store' if hit else ''})"
        )
        print("device: " + ", ".join(f"{k}={v}" for k, v in stats.fingerprint.items()))
        return
    predictor = LatencyPredictor(args.device, store)
    if args.command == "predict":
        print(
            f"{predictor.predict_us(load_spec(args.spec)) / 1e3:.3f} ms predicted "
            f"({predictor.profile.name}, calibrated on {predictor.calibration()['n']} networks)"
        )
        return
    from mv2search.search import load_space

    space = load_space(args.space)
    if args.command == "build-lut":
        _build_lut(predictor, space, args.calibration)
    else:
        _validate_lut(predictor, space, args)


def _build_lut(predictor: LatencyPredictor, space: SearchSpace, n_calibration: int) -> None:
    from mv2search.cost.latency import measure_latencies
    from mv2search.search.cover import covering_specs

    cover = covering_specs(space)
    todo = len(predictor.missing(cover))
    print(f"{space.name}: {todo} blocks of {len(cover)} covering specs to measure", file=sys.stderr)
    predictor.measure_blocks(cover)
    specs = space.sample(n_calibration, seed=12345)
    stats = measure_latencies(specs, predictor.profile, rounds=10)
    for spec, item in zip(specs, stats, strict=True):
        predictor.store.put(spec, item)
    params = predictor.calibrate(specs, [item.median_ms for item in stats])
    print(
        f"LUT of {len(predictor.lut)} blocks; calibration slope {params['slope']:.3f}, "
        f"intercept {params['intercept']:.0f} us over {params['n']} networks"
    )


def _validate_lut(
    predictor: LatencyPredictor, space: SearchSpace, args: argparse.Namespace
) -> None:
    from mv2search.cost.validation import validate_predictor

    calibration = space.sample(args.calibration, seed=args.seed + 1)
    validation = space.sample(args.n, seed=args.seed + 2)
    report = validate_predictor(predictor, calibration, validation)
    out = Path(args.out)
    stem = f"validate_{predictor.profile.name}_{space.name}"
    report.write(out / f"{stem}.json", out / f"{stem}.png")
    print(report.summary())
    print(f"wrote {out / stem}.json and .png")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mv2search` command."""
    parser = argparse.ArgumentParser(prog="mv2search", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    presets = commands.add_parser("presets", help="print the table of published presets")
    presets.add_argument("--latency", action="store_true", help="add a CPU latency column")
    presets.add_argument("--device", default="cpu_eager_1t", help="device profile for --latency")
    presets.add_argument("--image-size", type=int, default=256)
    cost = commands.add_parser("cost", help="print params and MACs of a spec YAML or preset")
    cost.add_argument("spec", help="a preset name or a path to a spec YAML/JSON file")
    _latency_commands(commands)
    repair = commands.add_parser(
        "repair-journal", help="keep a torn journal study's complete records, tail to FILE.torn"
    )
    repair.add_argument("file", help="the journal file, e.g. runs/<study>/study.journal")
    args = parser.parse_args(argv)
    try:
        if args.command == "presets":
            print(preset_table(args.latency, args.device, args.image_size))
        elif args.command == "cost":
            print(cost_report(load_spec(args.spec)))
        elif args.command == "repair-journal":
            from mv2search.study._store_journal import repair_journal

            print(repair_journal(args.file).summary)
        else:
            _run_latency_command(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
