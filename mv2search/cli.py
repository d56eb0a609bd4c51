"""Command line: `mv2search presets` (the preset table) and `mv2search cost SPEC` (cost of one
spec).

Run as `mv2search ...` after `pip install`, or `python -m mv2search ...`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mv2search.arch import PRESETS, ArchSpec, get_preset, resolve_widths
from mv2search.cost import count_macs, count_params
from mv2search.cost.layout import layout
from mv2search.cost.macs import block_macs
from mv2search.cost.params import block_params

__all__ = ["main", "preset_table", "cost_report", "load_spec"]


def load_spec(source: str) -> ArchSpec:
    """A spec from a preset name or a YAML file path.

    Raises:
        ValueError: for an unknown preset or a missing/malformed file, naming it.
    """
    if source in PRESETS:
        return PRESETS[source]
    if source.endswith((".yaml", ".yml", ".json")) or Path(source).exists():
        path = Path(source)
        if path.suffix == ".json":
            if not path.is_file():
                raise ValueError(f"{path}: spec file not found")
            return ArchSpec.from_json(path.read_text())
        return ArchSpec.from_yaml(path)
    return get_preset(source)  # raises, listing the presets


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
    args = parser.parse_args(argv)
    try:
        if args.command == "presets":
            print(preset_table(args.latency, args.device, args.image_size))
        else:
            print(cost_report(load_spec(args.spec)))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
