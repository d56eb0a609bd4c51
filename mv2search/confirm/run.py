"""Confirmation: train a study's top-K Pareto configs with the full recipe (method.md 6).

`run_confirm(cfg)` reads the study (`StudyStore.read`), picks the configs (`select`: the top K
of the front by proxy accuracy, and the nearest published preset of each at its resolution),
trains each with `cfg.trainer` at `round(image_size x cfg.resolution_scale)` px, and writes
`runs/<study>/confirm/confirmation.json` (`compare`: Kendall tau of the proxy and full rankings,
a verdict per found/preset pair) and `confirm/proxy_vs_full.png`.

- **Proxy accuracy.** A found config's is the study's. A preset gets a proxy run with the
  study's own proxy recipe (its trainer, resolution scale, data and seed, as stored with the
  study), so the rank agreement covers the presets too.
- **Resumable.** Every run goes through `Evaluator.proxy_train`: its folder under
  `runs/train/` is named by the spec signature and a hash of trainer, data and seed, so a
  finished run is read back and a killed one resumes from its checkpoint. Running the same
  command again trains nothing twice. `confirmation.json` is rewritten after every config.
- **Latency.** When the study optimises `latency_ms`, every config's latency comes from the
  study's latency mode and profile (or `device=...`), cached by spec and device fingerprint: the
  found configs' are the search's own measurements.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import pyplot as plt
from tqdm import tqdm

from mv2search.confirm.compare import compare_pair, rank_agreement
from mv2search.confirm.recipe import ConfirmRecipe, check_recipe, confirm_evaluator, train_specs
from mv2search.confirm.select import Candidate, nearest_presets, top_k
from mv2search.confirm.settings import ConfirmAppConfig
from mv2search.cost.device import DeviceProfile, load_device_profile
from mv2search.files import write_json
from mv2search.report.confirmation import confirmation_figure
from mv2search.search.evaluator import Evaluator, proxy_resolution
from mv2search.search.settings import rebuild_study
from mv2search.study.front import front_of
from mv2search.study.objectives import exact_metrics
from mv2search.study.store import StudySettings, StudyStore, TrialRecord

__all__ = ["ConfirmOutcome", "run_confirm"]

SELECTION = (
    "the top_k points of the Pareto front by proxy accuracy; for each, the published preset at "
    "its resolution with the nearest log MACs"
)


@dataclass(frozen=True)
class ConfirmOutcome:
    """What a confirmation wrote."""

    path: Path  # runs/<study>/confirm/confirmation.json
    data: dict[str, Any]  # its content
    trained: int  # runs this call trained or resumed (0: every run was already finished)
    wall_s: float  # seconds this call took


def run_confirm(cfg: ConfirmAppConfig, progress: bool | None = None) -> ConfirmOutcome:
    """Confirm the study of `cfg.run` (see the module docstring).

    Args:
        cfg: The composed config.
        progress: Show a bar over the configs (None: only on a terminal, like the epoch bars).

    Returns:
        The outcome.

    Raises:
        ValueError: naming the field or file: `top_k` < 1, a non-positive `resolution_scale`,
            an embedded image count that is not a positive multiple of 10, a missing run
            folder, a folder without a study of `search.py`, a study without an accuracy
            objective or with an empty Pareto front, an unknown device profile.
    """
    start = time.monotonic()
    folder, settings, front = _read_study(cfg)
    found = top_k(front, cfg.top_k)
    presets, pairs = nearest_presets(found) if cfg.presets else ([], [])
    proxy, full = _evaluators(cfg, settings, Path(cfg.runs_dir or folder.parent))
    out = folder / "confirm"
    rows, trained = [], 0
    candidates = found + presets
    bar = tqdm(candidates, unit="config", desc="confirm", disable=_disabled(progress))
    for candidate in bar:
        bar.set_postfix_str(candidate.name)
        row, n_trained = _confirm_one(candidate, proxy, full)
        rows.append(row)
        trained += n_trained
        data = _summary(cfg, folder, settings, rows, pairs, len(candidates))
        write_json(out / "confirmation.json", data | {"wall_s": time.monotonic() - start})
    figure = confirmation_figure(data)
    figure.savefig(out / "proxy_vs_full.png")
    plt.close(figure)
    wall_s = time.monotonic() - start
    data["wall_s"] = wall_s
    write_json(out / "confirmation.json", data)
    return ConfirmOutcome(out / "confirmation.json", data, trained, wall_s)


def _read_study(cfg: ConfirmAppConfig) -> tuple[Path, StudySettings, list[TrialRecord]]:
    """The run folder, the study's settings and its front; every input error named."""
    if cfg.top_k < 1:
        raise ValueError(f"top_k: {cfg.top_k}; allowed: an integer >= 1")
    check_recipe(_recipe(cfg))
    if cfg.cost_tolerance < 0:
        raise ValueError(f"cost_tolerance: {cfg.cost_tolerance}; allowed: a fraction >= 0")
    folder = Path(cfg.run)
    if cfg.storage_url is None and not folder.is_dir():
        raise ValueError(f"run: {folder}: no such folder; expected runs/<study> of search.py")
    store = StudyStore.read(folder, cfg.storage_url)
    settings = store.settings
    names = settings.objectives.names
    if "accuracy" not in names:
        raise ValueError(
            f"{folder}: the study's objectives {list(names)} have no accuracy; "
            "only studies that optimise accuracy can be confirmed"
        )
    front = front_of(store.records(), settings.objectives).records
    if not front:
        raise ValueError(
            f"{folder}: the study's Pareto front is empty (no COMPLETE trial); "
            "run or resume the search first"
        )
    return folder, settings, front


def _evaluators(
    cfg: ConfirmAppConfig, settings: StudySettings, runs_dir: Path
) -> tuple[Evaluator, Evaluator]:
    """The study's proxy evaluator, as the search built it, and the full one beside it."""
    stored = rebuild_study(settings)
    device = _latency_device(cfg, settings)
    metrics = ("accuracy", "latency_ms") if device is not None else ("accuracy",)
    evaluator = dataclasses.replace(stored.evaluator, torch_device=cfg.torch_device)
    # without a latency objective the profile is never used; the Evaluator still wants one
    device = device or DeviceProfile(name="unused")
    # a supernet-scored study's proxy is its supernet: the space and budgets it was trained for
    proxy = Evaluator(
        metrics,
        stored.training,
        device,
        evaluator,
        runs_dir,
        space=settings.space or None,
        budgets=settings.objectives.budgets,
    )
    full = confirm_evaluator(proxy, _recipe(cfg))
    return proxy, full


def _recipe(cfg: ConfirmAppConfig) -> ConfirmRecipe:
    return ConfirmRecipe(
        cfg.trainer, cfg.resolution_scale, cfg.embedded_train_size, cfg.embedded_val_size
    )


def _latency_device(cfg: ConfirmAppConfig, settings: StudySettings) -> DeviceProfile | None:
    """`cfg.device`, else the study's profile by name; None without a latency objective."""
    if "latency_ms" not in settings.objectives.names:
        return None
    try:
        if cfg.device is not None:
            return DeviceProfile.from_dict(dataclasses.asdict(cfg.device))
        return load_device_profile(settings.device)
    except (TypeError, ValueError) as err:
        raise ValueError(f"device: {err}; pass device=<profile of conf/device/>") from err


def _confirm_one(
    candidate: Candidate, proxy: Evaluator, full: Evaluator
) -> tuple[dict[str, Any], int]:
    """Train (or read back) one config; its row and how many runs were trained or resumed."""
    spec, trained = candidate.spec, 0
    named = [(candidate.name, spec)]
    proxy_accuracy = candidate.proxy_accuracy
    if proxy_accuracy is None:
        run = train_specs(proxy, named, progress=False)[candidate.name]
        trained += run.trained
        proxy_accuracy = run.accuracy
    run = train_specs(full, named, progress=False)[candidate.name]
    trained += run.trained
    result = run.result
    row = {
        "name": candidate.name,
        "kind": candidate.kind,
        "trial": candidate.trial,
        "signature": spec.signature,
        "image_size": spec.image_size,
        "width_multiplier": spec.width_multiplier,
        **exact_metrics(spec),
        "latency_ms": full.latency_ms(spec) if "latency_ms" in full.metrics else None,
        "proxy_accuracy": proxy_accuracy,
        "full_accuracy": run.accuracy,
        "full_status": result.status,
        "full_reason": result.reason,
        "full_resolution": proxy_resolution(spec.image_size, full.settings.resolution_scale),
        "full_epochs": result.epochs,
        "full_train_s": result.wall_s,
        "full_run": str(run.run_dir),
        "spec": spec.to_dict(),
    }
    return row, trained


def _summary(
    cfg: ConfirmAppConfig,
    folder: Path,
    settings: StudySettings,
    rows: list[dict[str, Any]],
    pairs: list[tuple[str, str]],
    n_configs: int,
) -> dict[str, Any]:
    """The content of `confirmation.json` for the rows so far."""
    both = [r for r in rows if r["proxy_accuracy"] is not None and r["full_accuracy"] is not None]
    by_name = {r["name"]: r for r in rows}
    comparisons = [
        compare_pair(by_name[f], by_name[p], cfg.cost_tolerance)
        for f, p in pairs
        if f in by_name and p in by_name
    ]
    device = cfg.device.name if cfg.device is not None else settings.device
    return {
        "study": folder.name,
        "top_k": cfg.top_k,
        "selection": SELECTION,
        "complete": len(rows) == n_configs,
        "proxy": {
            "trainer": settings.trainer,
            "resolution_scale": settings.resolution_scale,
        },
        "full": {
            "trainer": dataclasses.asdict(cfg.trainer),
            "resolution_scale": cfg.resolution_scale,
            "embedded_images": [cfg.embedded_train_size, cfg.embedded_val_size],
        },
        "data": [settings.data_source, settings.data_options],
        "seed": settings.seed,
        "latency_device": device if "latency_ms" in settings.objectives.names else None,
        "cost_tolerance": cfg.cost_tolerance,
        "configs": rows,
        "kendall_tau": rank_agreement(
            [r["proxy_accuracy"] for r in both], [r["full_accuracy"] for r in both]
        ),
        "comparisons": comparisons,
    }


def _disabled(progress: bool | None) -> bool | None:
    return None if progress is None else not progress
