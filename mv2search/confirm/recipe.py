"""The confirmation stage as a reusable step: train any named specs with the confirmation recipe.

The recipe is what `conf/confirm/confirm.yaml` composes (its `trainer` option, by default
`reference`: the fidelity benchmark's reference recipe; its `resolution_scale` and the embedded
set's image counts, by default the reference's 10,000 / 1,000), read here
without Hydra so that other stages (the scaling study's trained comparison) confirm with the
same budget as `python confirm.py`.

`confirm_evaluator(study_evaluator, recipe)` is the study's evaluator (data, seed, runs folder,
latency profile) with the recipe's trainer and resolution scale; `train_specs` trains every spec
through its `Evaluator.proxy_train`, so each run is cached under `runs/train/` by spec signature
and a hash of trainer, data and seed: a finished run is read back, a killed one resumes from its
checkpoint, and a spec listed twice (under two names) trains once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm import tqdm

from mv2search.arch import ArchSpec
from mv2search.data import EMBEDDED
from mv2search.search.evaluator import Evaluator, proxy_resolution
from mv2search.train import TrainerConfig
from mv2search.train.config import load_trainer
from mv2search.train.result import TrainResult

__all__ = [
    "CONFIRM_YAML",
    "ConfirmRecipe",
    "ConfirmedRun",
    "check_recipe",
    "confirm_evaluator",
    "load_recipe",
    "run_dir",
    "train_specs",
]

CONFIRM_YAML = Path(__file__).resolve().parents[1] / "conf" / "confirm" / "confirm.yaml"


@dataclass
class ConfirmRecipe:
    """The confirmation recipe: a trainer and the resolution scale it trains at."""

    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # runs train at round(image_size x scale) px (multiple of 8, >= 32); 1.0: the spec's own
    resolution_scale: float = 0.25
    # images of the embedded set it trains and scores on (a study on a folder keeps its own)
    embedded_train_size: int = 10_000
    embedded_val_size: int = 10_000  # 1,000 measure top-1 to +-0.012: the gaps between specs


@dataclass(frozen=True)
class ConfirmedRun:
    """One spec trained (or read back) with the confirmation recipe."""

    name: str  # the caller's name for the spec
    signature: str  # ArchSpec.signature
    result: TrainResult
    trained: bool  # False: read back from a finished run
    run_dir: Path  # its folder under runs/train/

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy in [0, 1], None when the run did not finish ok."""
        ok = self.result.ok and self.result.top1 is not None
        return float(self.result.top1) if ok else None


def load_recipe(overrides: Sequence[str] = ()) -> ConfirmRecipe:
    """The recipe of `conf/confirm/confirm.yaml`, without Hydra.

    Args:
        overrides: `key=value` strings on top, for `trainer.<field>`, `resolution_scale`,
            `embedded_train_size` or `embedded_val_size` (e.g. `["trainer.schedule_steps=20"]`).

    Returns:
        The recipe.

    Raises:
        ValueError: naming an unknown or mistyped key, a malformed override, a non-positive
            `resolution_scale` or an image count that is not a positive multiple of 10.
    """
    values = yaml.safe_load(CONFIRM_YAML.read_text())
    option = next(
        d["trainer"] for d in values["defaults"] if isinstance(d, dict) and "trainer" in d
    )
    for i, text in enumerate(overrides):
        if "=" not in text:
            raise ValueError(
                f"overrides[{i}]: {text!r}; expected key=value, e.g. trainer.schedule_steps=100"
            )
    try:
        merged = OmegaConf.merge(
            OmegaConf.structured(ConfirmRecipe(trainer=load_trainer(option))),
            {"trainer": values.get("trainer", {})} | {key: values[key] for key in _RECIPE_KEYS},
            OmegaConf.from_dotlist(list(overrides)),
        )
    except OmegaConfBaseException as err:
        key, message = getattr(err, "full_key", None), str(err).splitlines()[0]
        raise ValueError(
            f"{key or 'confirmation recipe'}: {message}; allowed: trainer.<field of "
            f"TrainerConfig>, {', '.join(_RECIPE_KEYS)}"
        ) from err
    recipe = OmegaConf.to_object(merged)
    check_recipe(recipe)
    return recipe


_RECIPE_KEYS = ("resolution_scale", "embedded_train_size", "embedded_val_size")


def check_recipe(recipe: ConfirmRecipe) -> None:
    """Raise a ValueError naming a non-positive `resolution_scale` or an image count that the
    embedded set cannot draw (a positive multiple of 10)."""
    if not recipe.resolution_scale > 0:
        raise ValueError(f"resolution_scale: {recipe.resolution_scale}; allowed: a number > 0")
    for key in _RECIPE_KEYS[1:]:
        value = getattr(recipe, key)
        if not (isinstance(value, int) and value > 0 and value % 10 == 0):
            raise ValueError(f"{key}: {value!r}; allowed: a positive multiple of 10")


def confirm_evaluator(evaluator: Evaluator, recipe: ConfirmRecipe) -> Evaluator:
    """`evaluator` (a study's) with the recipe's trainer and resolution scale.

    Args:
        evaluator: The study's evaluator: its data source, seed, runs folder and latency profile
            are kept; on the embedded set the recipe's image counts replace the study's.
        recipe: The confirmation recipe.

    Returns:
        The confirmation's evaluator (accuracy by training, also for a supernet-scored study).
    """
    # the confirmation trains every config, whatever scored the study (a supernet included)
    settings = dataclasses.replace(
        evaluator.settings, resolution_scale=recipe.resolution_scale, accuracy="train"
    )
    training = dataclasses.replace(evaluator.training, trainer=recipe.trainer)
    if training.data_source == EMBEDDED:
        options = dataclasses.replace(
            training.data_options,
            embedded_train_size=recipe.embedded_train_size,
            embedded_val_size=recipe.embedded_val_size,
        )
        training = dataclasses.replace(training, data_options=options)
    return Evaluator(evaluator.metrics, training, evaluator.device, settings, evaluator.runs_dir)


def run_dir(evaluator: Evaluator, spec: ArchSpec) -> Path:
    """The folder `evaluator.proxy_train(spec)` trains in."""
    size = proxy_resolution(spec.image_size, evaluator.settings.resolution_scale)
    trainer = dataclasses.replace(evaluator.trainer, image_size=size)
    return evaluator.train_dir(spec, trainer)


def train_specs(
    evaluator: Evaluator,
    specs: Sequence[tuple[str, ArchSpec]],
    progress: bool | None = None,
) -> dict[str, ConfirmedRun]:
    """Train every named spec with `evaluator`'s recipe (cached, resumable; module docstring).

    Args:
        evaluator: The confirmation's evaluator (`confirm_evaluator`), or any other one.
        specs: `(name, spec)` pairs; names are unique, specs may repeat.
        progress: Show a bar over the specs (None: only on a terminal).

    Returns:
        `{name: ConfirmedRun}` in the order of `specs`; a spec listed twice is trained once and
        only its first listing counts as `trained`.

    Raises:
        ValueError: naming a name listed twice.
    """
    names = [name for name, _ in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"specs: names {twice} listed twice; allowed: unique names")
    runs: dict[str, ConfirmedRun] = {}
    by_signature: dict[str, TrainResult] = {}
    bar = tqdm(
        specs, unit="config", desc="confirm", disable=None if progress is None else not progress
    )
    for name, spec in bar:
        bar.set_postfix_str(name)
        folder, known = run_dir(evaluator, spec), spec.signature in by_signature
        trained = not known and not (folder / "result.json").is_file()
        if not known:
            by_signature[spec.signature] = evaluator.proxy_train(spec)
        result = by_signature[spec.signature]
        runs[name] = ConfirmedRun(name, spec.signature, result, trained, folder)
    return runs
