"""What a confirmation trains: the top-K Pareto configs of a study and the nearest presets.

- **Top K.** The points of the study's feasible Pareto front with the highest proxy accuracy,
  best first (ties: the earlier trial first). These are the configs the search would hand on, so
  they are the ones whose proxy ranking has to hold up under full training.
- **Nearest presets.** For each of them, the published preset (`mv2search.arch.PRESETS`) at the
  same resolution and class count whose exact MACs are nearest on a log scale,
  `argmin_p |log(MACs_p / MACs_found)|`. At the same resolution the comparison is one of
  architecture alone. A preset chosen twice is trained once; a preset whose spec equals a found
  config is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mv2search.arch import PRESETS, ArchSpec
from mv2search.cost import count_macs
from mv2search.study.store import TrialRecord

__all__ = ["Candidate", "nearest_presets", "top_k"]


@dataclass(frozen=True)
class Candidate:
    """One architecture of the confirmation."""

    name: str  # `trial_<number>` for a found config, `<preset>@<image_size>` for a preset
    kind: str  # "found" or "preset"
    spec: ArchSpec  # at its own resolution and the study's class count
    trial: int | None = None  # the study's trial number (found configs)
    proxy_accuracy: float | None = None  # the study's proxy top-1 (found configs)


def top_k(front: list[TrialRecord], k: int) -> list[Candidate]:
    """The `k` most accurate points of a front by proxy accuracy (all of them if fewer).

    Args:
        front: Trial records of the front (`front_of(...).records`), with an `accuracy` metric.
        k: How many; at least 1.

    Returns:
        The found configs, best proxy accuracy first (ties: lower trial number first).

    Raises:
        ValueError: naming `top_k` when `k < 1`.
    """
    if k < 1:
        raise ValueError(f"top_k: {k}; allowed: an integer >= 1")
    ranked = sorted(front, key=lambda r: (-r.metrics["accuracy"], r.number))
    return [
        Candidate(
            name=f"trial_{r.number}",
            kind="found",
            spec=ArchSpec.from_dict(r.spec),
            trial=r.number,
            proxy_accuracy=float(r.metrics["accuracy"]),
        )
        for r in ranked[:k]
    ]


def nearest_presets(found: list[Candidate]) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """The nearest published preset of each found config (see the module docstring).

    Args:
        found: The found configs (`top_k`).

    Returns:
        One preset per distinct (preset, resolution), in the order of the found configs, and the
        `(found name, preset name)` pairs to compare.
    """
    chosen: dict[str, Candidate] = {}
    pairs = []
    taken = {c.spec.signature for c in found}
    for config in found:
        preset = nearest_preset(config.spec)
        if preset is None or preset.signature in taken:
            continue
        name = f"{preset.name}@{preset.image_size}"
        chosen.setdefault(name, Candidate(name, "preset", preset))
        pairs.append((config.name, name))
    return list(chosen.values()), pairs


def nearest_preset(spec: ArchSpec) -> ArchSpec | None:
    """The preset at `spec`'s resolution and class count with the nearest log MACs.

    Args:
        spec: A found config.

    Returns:
        The preset's spec (its `name` kept), or None when no preset is valid at that resolution.
    """
    target = math.log(count_macs(spec))
    best, best_distance = None, math.inf
    for preset in PRESETS.values():
        try:
            moved = preset.replace(image_size=spec.image_size, num_classes=spec.num_classes)
            distance = abs(math.log(count_macs(moved)) - target)
        except ValueError:  # a preset whose patches do not tile this resolution
            continue
        if distance < best_distance:
            best, best_distance = moved, distance
    return best
