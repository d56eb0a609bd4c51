"""The typed config of `python search.py` (Hydra schema `base_search`) and what it builds.

Every group of `conf/search/` merges into one of these dataclasses, so a misspelled key or a
wrong type fails when the config is composed, before any work starts. The builders below turn
the plain config into the objects the search runs on, and every error names the field.

Metric names (method.md 2): `accuracy` (top-1 on the validation split, max), `latency_ms`
(median on the device profile, min), `gmacs` (giga multiply-accumulates at the spec's own
resolution, exact) and `mparams` (millions of parameters, exact). Exact metrics may be objectives
or budgets; a budget is checked before a candidate is trained or measured.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from mv2search.cost.device import DeviceProfile
from mv2search.data import DataOptions
from mv2search.search.objectives import Budget, Objective, Objectives
from mv2search.train.config import TrainerConfig

__all__ = [
    "EXACT_METRICS",
    "LATENCY_MODES",
    "METRICS",
    "DataConfig",
    "DeviceConfig",
    "EvaluatorConfig",
    "LoggerConfig",
    "ObjectiveConfig",
    "ObjectivesConfig",
    "OptimizerConfig",
    "SearchAppConfig",
    "StorageConfig",
    "build_budgets",
    "build_objectives",
]

EXACT_METRICS = ("gmacs", "mparams")
METRICS = ("accuracy", "latency_ms", *EXACT_METRICS)
LATENCY_MODES = ("measured", "predicted")


@dataclass
class ObjectiveConfig:
    """One optimised metric."""

    name: str = MISSING  # one of METRICS
    direction: str = "max"  # max or min


@dataclass
class ObjectivesConfig:
    """Group `objectives`: what is optimised, the hypervolume reference point, the budgets."""

    name: str = MISSING
    metrics: list[ObjectiveConfig] = field(default_factory=list)
    # one value per metric, in its own units; a point counts only if better in every metric
    reference_point: list[float] = field(default_factory=list)
    # exact metric -> largest allowed value (gmacs, mparams); checked before evaluation
    budgets: dict[str, float] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    """Group `optimizer`: the proposer backend and the number of trials."""

    name: str = MISSING
    backend: str = "botorch"  # botorch, random, tpe, nsga2, optuna_gp
    n_trials: int = 20  # evaluated trials (complete or failed) the study stops at
    n_initial: int | None = None  # space-filling proposals first (None: the backend's default)
    options: dict[str, Any] = field(default_factory=dict)  # backend options (e.g. num_restarts)


@dataclass
class StorageConfig:
    """Group `storage`: where the study lives."""

    name: str = MISSING
    # sqlite (runs/<study>/study.db), journal (runs/<study>/study.journal), sqlite:///<file>,
    # journal:<file> or postgresql://user@host:port/db
    url: str = MISSING
    heartbeat_s: float = 10.0  # a RUNNING trial without a heartbeat for 3x this is failed


@dataclass
class LoggerConfig:
    """Group `logger`: where trials are reported besides the study and the terminal."""

    name: str = "none"  # none or wandb
    project: str = "mv2search"  # W&B project
    entity: str | None = None  # W&B entity (None: the user's default)
    # W&B mode when WANDB_MODE is not set: offline (files under runs/<study>/wandb/, upload
    # later with `wandb sync`), online, or disabled
    mode: str = "offline"


@dataclass
class DataConfig:
    """Group `data`: the images the proxy trains on."""

    name: str = MISSING
    source: str = MISSING  # `embedded` (generated) or an image-folder root
    options: DataOptions = field(default_factory=DataOptions)


def _mutable_schema(frozen: type, name: str) -> type:
    """A non-frozen copy of a frozen dataclass's fields (Hydra cannot merge into frozen ones)."""
    hints = typing.get_type_hints(frozen)
    fields = []
    for f in dataclasses.fields(frozen):
        default = MISSING if f.default is dataclasses.MISSING else f.default
        fields.append((f.name, hints[f.name], field(default=default)))
    schema = dataclasses.make_dataclass(name, fields)
    schema.__module__ = __name__
    return schema


# Group `device`: a latency profile of conf/device/ (fields of `DeviceProfile`), typed so that
# `device.iters=20` is checked when the config is composed.
DeviceConfig = _mutable_schema(DeviceProfile, "DeviceConfig")


@dataclass
class EvaluatorConfig:
    """How a candidate is scored beyond the trainer and the device profile."""

    # measured: run the network on the device profile (cached in latency_store);
    # predicted: sum the profile's block lookup table (filled on demand), calibrated
    latency: str = "measured"
    latency_store: str | None = None  # None: <runs_dir>/latency.sqlite
    # the proxy trains at round(image_size x scale) (multiple of 8, >= 32): resolution still
    # matters to accuracy while training stays cheap; 1.0 trains at the searched resolution
    resolution_scale: float = 0.25
    torch_device: str = "auto"  # where the proxy trains: auto, cpu, cuda, cuda:N


@dataclass
class SearchAppConfig:
    """The whole `search.py` config (Hydra schema `base_search`)."""

    space: Any = MISSING  # a search_spaces/*.yaml mapping, chosen with +space=<name>
    objectives: ObjectivesConfig = field(default_factory=ObjectivesConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)  # a conf/device/*.yaml profile
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    study: str | None = None  # study name (None: <space>-<objectives>-<optimizer>-s<seed>)
    seed: int = 0  # proposals and proxy training
    runs_dir: str = "runs"  # root of everything the project writes


def build_objectives(cfg: ObjectivesConfig) -> Objectives:
    """The `Objectives` of the config.

    Args:
        cfg: The `objectives` group.

    Returns:
        The objectives with their reference point.

    Raises:
        ValueError: for an unknown metric or direction, or a reference point of the wrong length
            (naming the `objectives.*` field and what is allowed).
    """
    if not cfg.metrics:
        raise ValueError(f"objectives.metrics: at least one metric; allowed: {list(METRICS)}")
    for i, metric in enumerate(cfg.metrics):
        if metric.name not in METRICS:
            raise ValueError(
                f"objectives.metrics[{i}].name: {metric.name!r} is not a metric; "
                f"allowed: {list(METRICS)}"
            )
    try:
        objectives = [Objective(m.name, m.direction) for m in cfg.metrics]
        return Objectives(objectives, list(cfg.reference_point))
    except ValueError as err:
        raise ValueError(f"objectives: {err}") from err


def build_budgets(cfg: ObjectivesConfig) -> list[Budget]:
    """The exact-metric budgets of the config.

    Args:
        cfg: The `objectives` group.

    Returns:
        One `Budget` per entry of `objectives.budgets`.

    Raises:
        ValueError: for a budget on a metric that is not exact, or a non-positive limit.
    """
    budgets = []
    for metric, limit in cfg.budgets.items():
        if metric not in EXACT_METRICS:
            raise ValueError(
                f"objectives.budgets.{metric}: only exact metrics can be budgets; "
                f"allowed: {list(EXACT_METRICS)}"
            )
        if limit is None or not float(limit) > 0:
            raise ValueError(f"objectives.budgets.{metric}: expected a positive limit, got {limit}")
        budgets.append(Budget(metric, float(limit)))
    return budgets
