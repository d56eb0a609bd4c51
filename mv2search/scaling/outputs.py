"""What a scaling analysis leaves in `runs/<study>/scaling/`.

- `analysis.json`: the whole `ScalingAnalysis`;
- `derived/<base>-<fraction>x.yaml`: the downsized model of each budget, a spec that
  `python train.py arch=<file>` trains, with its MACs, predicted accuracy and 90 % interval and
  the path of steps in the header;
- `baselines/<rule>-<fraction>x.yaml` and `baselines/<base>.yaml`: the baseline rules' models
  at each budget and the base itself, for training the comparison;
- `scaling_*.png`: the figures of `mv2search.report.scaling_figures`.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import torch
from matplotlib import pyplot as plt

from mv2search.files import atomic_write_bytes, write_json
from mv2search.report.scaling_figures import FIGURES
from mv2search.report.scaling_text import Z90, describe_point
from mv2search.scaling.analysis import ScalingAnalysis
from mv2search.scaling.grid import FactorGrid

__all__ = ["write_analysis"]


def _spec_file(path: Path, grid: FactorGrid, x: list[float], name: str, lines: list[str]) -> str:
    spec = dataclasses.replace(grid.spec(torch.tensor(x, dtype=torch.float64)), name=name)
    header = "".join(f"# {line}\n" for line in [*lines, f"train it: python train.py arch={path}"])
    atomic_write_bytes(path, (header + spec.to_yaml()).encode())
    return str(path)


def _derived(folder: Path, a: ScalingAnalysis, grid: FactorGrid) -> None:
    base = a.base["name"]
    for path in a.paths:
        final, fraction = path["final"], path["fraction"]
        steps = " -> ".join(s["factor"] for s in path["steps"][1:]) or "none"
        lo, hi = path["interval_90"]
        lines = [
            f"derived by the GP downsizing rule from {base} at {a.base['image_size']} px for "
            f"{fraction:g}x its MACs ({path['budget_gmacs']:.4g} GMACs)",
            f"{describe_point(a.labels, final['x'])}: {final['gmacs']:.4g} GMACs, predicted "
            f"proxy accuracy {final['mean']:.4f} (90 % interval {lo:.4f} .. {hi:.4f})",
            f"steps down: {steps}",
        ]
        name = f"{base}-gp-{fraction:g}x"
        path["file"] = _spec_file(
            folder / "derived" / f"{name}.yaml", grid, final["x"], name, lines
        )


def _baselines(folder: Path, a: ScalingAnalysis, grid: FactorGrid) -> None:
    base = a.base["name"]
    lines = [
        f"the base of the scaling study: {a.base['gmacs']:.4g} GMACs, predicted "
        f"{a.base['mean']:.4f} ± {Z90 * a.base['sd']:.4f}"
    ]
    a.base["file"] = _spec_file(
        folder / "baselines" / f"{base}.yaml", grid, a.base["x"], base, lines
    )
    for row in a.comparison:
        if row["rule"] == "gp_downsize":
            continue
        name = f"{row['rule']}-{row['fraction']:g}x"
        lines = [
            f"{row['rule']} scaling of {base} to {row['fraction']:g}x its MACs "
            f"({row['budget_gmacs']:.4g} GMACs; within budget: {row['within_budget']})",
            f"{describe_point(a.labels, row['x'])}: {row['gmacs']:.4g} GMACs, predicted "
            f"{row['mean']:.4f} ± {Z90 * row['sd']:.4f}",
        ]
        row["file"] = _spec_file(folder / "baselines" / f"{name}.yaml", grid, row["x"], name, lines)


def write_analysis(out_dir: Path, analysis: ScalingAnalysis, grid: FactorGrid) -> dict[str, Any]:
    """Write the files of the module docstring under `out_dir / "scaling"`.

    Args:
        out_dir: `runs/<study>/`.
        analysis: The analysis (its paths and comparison rows gain a `file` key).
        grid: The factor grid it was made on.

    Returns:
        The analysis as written to `analysis.json`.
    """
    folder = Path(out_dir) / "scaling"
    for sub in ("derived", "baselines"):
        for stale in (folder / sub).glob("*.yaml"):
            stale.unlink()
    _derived(folder, analysis, grid)
    _baselines(folder, analysis, grid)
    data = analysis.to_dict()
    write_json(folder / "analysis.json", data)
    for stem, (draw, _) in FIGURES.items():
        fig, buffer = draw(data), io.BytesIO()
        if fig is None:  # nothing to draw yet (no trained comparison)
            (folder / f"{stem}.png").unlink(missing_ok=True)
            continue
        fig.savefig(buffer, format="png")
        plt.close(fig)
        atomic_write_bytes(folder / f"{stem}.png", buffer.getvalue())
    return data
