"""The typed config of `python search.py` (Hydra schema `base_search`) and what it builds.

Every group of `conf/search/` merges into one of these dataclasses, so a misspelled key or a
wrong type fails when the config is composed, before any work starts. The builders below turn
the plain config into the objects the search runs on, and every error names the field. The
metric names are `mv2search.study.objectives.METRICS`; exact metrics may be objectives or
budgets, and a budget is checked before a candidate is trained or measured.

`study_settings` is what a search stores with its study; `rebuild_study` turns stored settings
back into the objects of a search (the confirmation uses it).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from mv2search.cost.device import DeviceProfile
from mv2search.data import DataOptions
from mv2search.search.loggers import LoggerConfig
from mv2search.search.optimizers.base import OptimizerConfig
from mv2search.study.objectives import EXACT_METRICS, METRICS, Budget, Objective, Objectives
from mv2search.study.store import StudySettings
from mv2search.train.config import TrainerConfig

__all__ = [
    "ACCURACY_MODES",
    "LATENCY_MODES",
    "DataConfig",
    "DeviceConfig",
    "EvaluatorConfig",
    "FidelityConfig",
    "ObjectiveConfig",
    "ObjectivesConfig",
    "SearchAppConfig",
    "StorageConfig",
    "StoredStudy",
    "SupernetAppConfig",
    "SupernetScoreConfig",
    "TrainingSetup",
    "build_objectives",
    "rebuild_study",
    "study_settings",
]

LATENCY_MODES = ("measured", "predicted")
ACCURACY_MODES = ("train", "supernet")


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
class StorageConfig:
    """Group `storage`: where the study lives."""

    name: str = MISSING
    # sqlite (runs/<study>/study.db), journal (runs/<study>/study.journal), sqlite:///<file>,
    # journal:<file> or postgresql://user@host:port/db
    url: str = MISSING
    heartbeat_s: float = 10.0  # a RUNNING trial without a heartbeat for 3x this is failed


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
class SupernetScoreConfig:
    """`evaluator.supernet`: the supernet of `evaluator.accuracy=supernet`, trained once per
    space, budgets, data and seed (cached in <runs_dir>/supernet/) and shared by every worker and
    study; the rest of its recipe is `SupernetTrainConfig`'s, at `evaluator.resolution_scale`."""

    # modest defaults for a CPU: 300 sandwich steps of 32 images, each training the largest, the
    # smallest and 2 random feasible subnets (the paper-scale recipe: steps=2000 batch_size=128)
    steps: int = 300
    batch_size: int = 32  # images per step; also the batch of the BatchNorm re-estimation
    num_random: int = 2  # random feasible subnets per step besides the largest and smallest
    # the teacher: budget (the largest feasible subnet) or space (the space's largest, over budget)
    teacher: str = "budget"
    # also train the teacher's attention-free twin every step (`SupernetTrainConfig`)
    attention_free: bool = False
    # training images BatchNorm statistics are re-estimated on: one seeded draw, the same for
    # every candidate (the attention layers' GroupNorm(1) has no statistics)
    bn_images: int = 320


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
    # train: proxy-train each candidate with the study's trainer; supernet: the top-1 of its
    # subnet inherited from one trained supernet (`evaluator.supernet`), after re-estimating
    # BatchNorm statistics; one fidelity only
    accuracy: str = "train"
    supernet: SupernetScoreConfig = field(default_factory=SupernetScoreConfig)


@dataclass
class FidelityConfig:
    """Group `fidelity`: one fidelity, or successive halving over rungs (`fidelity=asha`)."""

    name: str = MISSING
    # training steps of each rung, increasing; empty: one fidelity, the trainer's own budget
    rungs: list[int] = field(default_factory=list)
    eta: int = 2  # the top 1/eta of a rung is promoted to the next (mv2search.search.promotion)

    def check(self) -> None:
        """Raises ValueError naming `fidelity.rungs` or `fidelity.eta` when they are invalid."""
        rungs = list(self.rungs)
        if any(not isinstance(r, int) or r < 1 for r in rungs) or rungs != sorted(set(rungs)):
            raise ValueError(
                f"fidelity.rungs: {rungs}; expected increasing positive step counts "
                "(empty: one fidelity)"
            )
        if not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"fidelity.eta: {self.eta!r}; expected an integer >= 2")

    def trainer(self, trainer: TrainerConfig) -> TrainerConfig:
        """The trainer of a study with these rungs: measured in steps, its schedule laid over
        the top rung and scored at every rung (unchanged for one fidelity)."""
        if not self.rungs:
            return trainer
        eval_steps = sorted({*trainer.eval_steps, *self.rungs})
        eval_steps = [s for s in eval_steps if s <= self.rungs[-1]]
        return dataclasses.replace(
            trainer, schedule_steps=self.rungs[-1], eval_steps=eval_steps, max_steps=None
        )


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
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    study: str | None = None  # study name (None: <space>-<objectives>-<optimizer>-s<seed>)
    seed: int = 0  # proposals and proxy training
    runs_dir: str = "runs"  # root of everything the project writes
    # worker processes on the study from this command: auto (one per core, one torch thread
    # each) or N (1: this process alone, with the environment's threads)
    workers: str = "auto"
    # a job's index when a Hydra launcher starts N of them on one study
    # (`-m hydra/launcher=submitit_local workers=1 worker_index=0,1,2`); changes nothing else
    worker_index: int = 0


@dataclass
class SupernetAppConfig:
    """The whole `supernet.py` config (schema `base_supernet`): what of a search config the
    supernet of `evaluator.accuracy=supernet` depends on, under the same keys, so the same
    overrides train the same supernet (`mv2search.search.supernet_score.train_study_supernet`)."""

    space: Any = MISSING  # a search_spaces/*.yaml mapping, chosen with +space=<name>
    objectives: ObjectivesConfig = field(default_factory=ObjectivesConfig)  # for its budgets
    data: DataConfig = field(default_factory=DataConfig)
    # resolution_scale, torch_device and supernet (the recipe); the rest is unused here
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    seed: int = 0
    runs_dir: str = "runs"  # the run lands in <runs_dir>/supernet/<key>/


@dataclass(frozen=True)
class TrainingSetup:
    """What a candidate's accuracy is trained with: the recipe, the images and the seed."""

    trainer: TrainerConfig
    data_source: str  # `embedded` or an image-folder root
    data_options: DataOptions
    seed: int = 0


def build_objectives(cfg: ObjectivesConfig) -> Objectives:
    """The `Objectives` of the config, with its budgets.

    Args:
        cfg: The `objectives` group.

    Returns:
        The objectives with their reference point and budgets.

    Raises:
        ValueError: for an unknown metric or direction, a reference point of the wrong length,
            a budget on a metric that is not exact or a non-positive limit (naming the
            `objectives.*` field and what is allowed).
    """
    if not cfg.metrics:
        raise ValueError(f"objectives.metrics: at least one metric; allowed: {list(METRICS)}")
    for i, metric in enumerate(cfg.metrics):
        if metric.name not in METRICS:
            raise ValueError(
                f"objectives.metrics[{i}].name: {metric.name!r} is not a metric; "
                f"allowed: {list(METRICS)}"
            )
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
    try:
        objectives = [Objective(m.name, m.direction) for m in cfg.metrics]
        return Objectives(objectives, list(cfg.reference_point), budgets)
    except ValueError as err:
        raise ValueError(f"objectives: {err}") from err


def study_settings(
    cfg: SearchAppConfig, objectives: Objectives, training: TrainingSetup, device: str
) -> StudySettings:
    """What the search of `cfg` stores with its study (and requires on every reopen)."""
    return StudySettings(
        objectives=objectives,
        space=dict(cfg.space),
        optimizer=cfg.optimizer.name,
        device=device,
        latency=cfg.evaluator.latency,
        resolution_scale=cfg.evaluator.resolution_scale,
        trainer=dataclasses.asdict(training.trainer),
        data_source=training.data_source,
        data_options=dataclasses.asdict(training.data_options),
        seed=training.seed,
        rungs=tuple(cfg.fidelity.rungs),
        eta=cfg.fidelity.eta,
        accuracy=(
            None
            if cfg.evaluator.accuracy == "train"
            else {"mode": cfg.evaluator.accuracy, **dataclasses.asdict(cfg.evaluator.supernet)}
        ),
    )


@dataclass(frozen=True)
class StoredStudy:
    """A stored study's settings as the objects a search runs on."""

    objectives: Objectives  # names, directions, reference point, budgets
    training: TrainingSetup  # the proxy recipe, data and seed
    evaluator: EvaluatorConfig  # latency mode, resolution scale, accuracy mode and recipe
    device: str  # the latency device profile's name


def rebuild_study(settings: StudySettings) -> StoredStudy:
    """The objectives, proxy trainer, data options and evaluator settings of a stored study.

    Args:
        settings: `StudyStore.settings` of a search's study.

    Returns:
        The study's objects, as its search built them.
    """
    training = TrainingSetup(
        trainer=TrainerConfig(**settings.trainer),
        data_source=settings.data_source,
        data_options=DataOptions(**settings.data_options),
        seed=settings.seed,
    )
    accuracy = dict(settings.accuracy or {"mode": "train"})
    evaluator = EvaluatorConfig(
        latency=settings.latency,
        resolution_scale=settings.resolution_scale,
        accuracy=accuracy.pop("mode"),
        supernet=SupernetScoreConfig(**accuracy),
    )
    return StoredStudy(settings.objectives, training, evaluator, settings.device)
