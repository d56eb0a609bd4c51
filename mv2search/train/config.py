"""What a training run does: the optimizer recipe and the budget, as one typed dataclass.

`TrainerConfig` is also the Hydra schema of the `trainer` group (`conf/trainer/proxy.yaml`,
`conf/trainer/full.yaml`). The full budget is the paper's cvnets recipe (method.md 6,
architecture.md 1.9); the proxy budget is the same optimizer cut down to a few epochs or minutes at
reduced resolution, so that configs can be ranked cheaply.

Learning rate and weight decay default to the paper's per-width table, scaled from its batch of
1024 to ours (`lr_scaling`: `sqrt` by default, the usual rule for Adam-type optimizers; `linear`
and `none` are available).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "TrainerConfig",
    "load_trainer",
    "recipe_lr_wd",
    "PRECISIONS",
    "LR_SCALINGS",
    "SCHEDULES",
]

PRECISIONS = ("auto", "fp32", "bf16")
LR_SCALINGS = ("sqrt", "linear", "none")
SCHEDULES = ("cosine", "wsd")
RECIPE_BATCH = 1024
TRAINER_DIR = Path(__file__).resolve().parents[1] / "conf" / "trainer"

# architecture.md 1.9: width multiplier -> (max LR, weight decay) at batch 1024.
_RECIPE = (
    (0.5, 0.009, 0.004),
    (0.75, 0.009, 0.008),
    (1.0, 0.0075, 0.013),
    (1.25, 0.0049, 0.020),
    (1.5, 0.0035, 0.029),
    (1.75, 0.0026, 0.039),
    (2.0, 0.002, 0.05),
)


@dataclass
class TrainerConfig:
    """Recipe and budget of one training run (the `trainer` config group).

    Not frozen: Hydra cannot merge YAML files into a schema built from a frozen dataclass.
    """

    name: str = "proxy"  # label used in run folder names
    epochs: int = 5  # passes over the (subset of the) training set
    max_steps: int | None = None  # stop after this many optimizer steps (None: no cap)
    max_minutes: float | None = None  # stop after this much training time (None: no cap)
    image_size: int | None = None  # train/eval resolution (None: the spec's own)
    subset: float | None = None  # fraction (0, 1] of the training set, class-balanced
    batch_size: int = 128  # global batch (split across DDP processes)
    lr: float | None = None  # peak LR (None: the paper's table by width, then lr_scaling)
    weight_decay: float | None = None  # AdamW decay (None: the paper's table by width)
    lr_scaling: str = "sqrt"  # how a table LR moves from batch 1024 to batch_size
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of the peak LR
    warmup_steps: int = 20000  # linear warm-up from warmup_init_lr ...
    warmup_max_fraction: float = 0.05  # ... capped at this fraction of the schedule's steps
    warmup_init_lr: float = 1e-6
    # cosine: warm-up then cosine to the floor over the schedule; wsd: warm-up, then the peak LR
    # held, and every scored step (a stop, an `eval_steps` entry) scored after a decay branch
    # of decay_fraction x its steps down to the floor (the run itself goes on undecayed)
    schedule: str = "cosine"
    # the schedule's length in steps (None: the run's own); set, the run is measured in steps
    # (`max_steps`, `epochs` unused) and a run to N steps is a prefix of one to M > N: the same
    # data, weights and LR up to N, so stopping and continuing equals running straight on
    schedule_steps: int | None = None
    decay_fraction: float = 0.2  # wsd: the decay branch's length as a fraction of its step
    eval_steps: list[int] = field(default_factory=list)  # also score at these steps (rungs)
    # re-estimate BatchNorm statistics on this many fixed training batches before every
    # evaluation (0: score with the running averages; mv2search.train.bn)
    bn_recalibration_batches: int = 20
    eval_running_bn: bool = False  # also score with the running averages (before vs after)
    beta1: float = 0.9
    beta2: float = 0.999
    label_smoothing: float = 0.1
    augment: str = "light"  # transform policy (mv2search.data: none, light, imagenet, full)
    mixup_alpha: float = 0.0  # 0 disables MixUp
    cutmix_alpha: float = 0.0  # 0 disables CutMix
    ema_momentum: float = 0.0  # cvnets EMA momentum per step (0.0005 in the paper); 0: off
    grad_clip: float | None = 10.0  # max global gradient norm (None: no clipping)
    precision: str = "auto"  # auto: bf16 autocast on CUDA with bf16 support, fp32 on CPU
    num_workers: int = 2  # data loader processes per training process
    eval_batch_size: int = 256
    checkpoint_every_steps: int = 200  # also at every epoch end
    init_from: str | None = None  # timm-format checkpoint to start from (head dropped on mismatch)

    def __post_init__(self) -> None:
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("eval_batch_size", self.eval_batch_size)
        _positive("checkpoint_every_steps", self.checkpoint_every_steps)
        for name in ("max_steps", "max_minutes", "image_size", "lr", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not value > 0 and not (name == "weight_decay" and value == 0):
                raise ValueError(f"trainer.{name}={value!r}: must be positive or null")
        if self.subset is not None and not 0 < self.subset <= 1:
            raise ValueError(f"trainer.subset={self.subset!r}: must be a fraction in (0, 1]")
        _choice("precision", self.precision, PRECISIONS)
        _choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
        _choice("schedule", self.schedule, SCHEDULES)
        if self.schedule_steps is not None:
            _positive("schedule_steps", self.schedule_steps)
            if self.max_steps is not None and self.max_steps > self.schedule_steps:
                raise ValueError(
                    f"trainer.max_steps={self.max_steps} is past trainer.schedule_steps="
                    f"{self.schedule_steps}; allowed: at most the schedule's length"
                )
        if not 0 < self.decay_fraction <= 1:
            raise ValueError(f"trainer.decay_fraction={self.decay_fraction!r}: must lie in (0, 1]")
        if any(not isinstance(s, int) or s < 1 for s in self.eval_steps):
            raise ValueError(f"trainer.eval_steps={list(self.eval_steps)!r}: positive step counts")
        if self.bn_recalibration_batches < 0:
            raise ValueError("trainer.bn_recalibration_batches must be >= 0")
        for name in ("label_smoothing", "min_lr_ratio", "ema_momentum"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"trainer.{name}={getattr(self, name)!r}: must lie in [0, 1)")
        if not 0 <= self.warmup_max_fraction <= 1:
            raise ValueError(
                f"trainer.warmup_max_fraction={self.warmup_max_fraction!r}: must lie in [0, 1] "
                "(1: no cap)"
            )
        if self.num_workers < 0 or self.warmup_steps < 0:
            raise ValueError("trainer.num_workers and trainer.warmup_steps must be >= 0")

    @property
    def measured_in_steps(self) -> bool:
        """A run with an explicit schedule length stops at `max_steps` and can be continued."""
        return self.schedule_steps is not None

    def identity(self) -> dict[str, Any]:
        """What decides a run's trajectory, for its folder name and checkpoint identity: every
        field, but for a run measured in steps not where it stops (`max_steps`, `epochs`), so
        continuing it to more steps resumes the same folder."""
        values = asdict(self)
        if self.measured_in_steps:
            del values["max_steps"], values["epochs"]
        return values

    def peak_lr_and_decay(self, width_multiplier: float) -> tuple[float, float]:
        """The peak LR and weight decay for a model of this width.

        Args:
            width_multiplier: The spec's alpha.

        Returns:
            `(lr, weight_decay)`: the configured values, or the paper's table (interpolated in
            alpha) with the LR moved from batch 1024 to `batch_size` by `lr_scaling`.
        """
        table_lr, table_wd = recipe_lr_wd(width_multiplier)
        ratio = self.batch_size / RECIPE_BATCH
        scale = {"sqrt": math.sqrt(ratio), "linear": ratio, "none": 1.0}[self.lr_scaling]
        lr = self.lr if self.lr is not None else table_lr * scale
        weight_decay = self.weight_decay if self.weight_decay is not None else table_wd
        return lr, weight_decay


def load_trainer(name: str) -> TrainerConfig:
    """A trainer from `conf/trainer/<name>.yaml` (e.g. `proxy`, `full`) or a YAML file path,
    without Hydra.

    Args:
        name: A config name of the `trainer` group, or a path.

    Returns:
        The config.

    Raises:
        ValueError: for an unknown name or key, naming it.
    """
    import yaml

    path = Path(name) if name.endswith((".yaml", ".yml")) else TRAINER_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in TRAINER_DIR.glob("*.yaml"))
        raise ValueError(f"trainer {name!r}: no file {path}; available: {known}")
    values = yaml.safe_load(path.read_text()) or {}
    values.pop("defaults", None)
    unknown = set(values) - {f.name for f in fields(TrainerConfig)}
    if unknown:
        raise ValueError(f"{path}: unknown trainer keys {sorted(unknown)}")
    return TrainerConfig(**values)


def recipe_lr_wd(width_multiplier: float) -> tuple[float, float]:
    """The paper's max LR and weight decay for a width (architecture.md 1.9), batch 1024.

    Widths between the table's rows are interpolated linearly; widths outside it take the
    nearest row.

    Args:
        width_multiplier: alpha.

    Returns:
        `(max_lr, weight_decay)`.
    """
    rows = _RECIPE
    if width_multiplier <= rows[0][0]:
        return rows[0][1], rows[0][2]
    for (a0, lr0, wd0), (a1, lr1, wd1) in zip(rows, rows[1:], strict=False):
        if width_multiplier <= a1:
            t = (width_multiplier - a0) / (a1 - a0)
            return lr0 + t * (lr1 - lr0), wd0 + t * (wd1 - wd0)
    return rows[-1][1], rows[-1][2]


def _positive(name: str, value: int) -> None:
    if not value > 0:
        raise ValueError(f"trainer.{name}={value!r}: must be a positive integer")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"trainer.{name}={value!r}: allowed values are {', '.join(allowed)}")
