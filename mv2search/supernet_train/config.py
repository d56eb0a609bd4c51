"""`SupernetTrainConfig`: the recipe and budget of one sandwich-rule supernet training run.

The optimizer recipe is the trainer's (`mv2search.train`): AdamW without decay on biases and norms,
linear warm-up then cosine to `min_lr_ratio x` the peak, the peak LR and weight decay from the
paper's per-width table (at the largest subnet's width) moved to `batch_size` by `lr_scaling`,
label smoothing on the largest subnet's cross-entropy, global gradient clipping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mv2search.data import POLICIES
from mv2search.train.config import LR_SCALINGS, PRECISIONS, TrainerConfig

__all__ = ["TEACHERS", "SupernetTrainConfig"]

TEACHERS = ("budget", "space")  # values of `SupernetTrainConfig.teacher`

# Fields that change how a run is carried out but not its weights: not part of its cache key.
_MECHANICS = ("num_workers", "checkpoint_every_steps")


@dataclass(frozen=True)
class SupernetTrainConfig:
    """Recipe and budget of one supernet run (each optimizer step is one sandwich)."""

    steps: int = 2000  # optimizer steps; the cosine schedule spans them
    batch_size: int = 128  # images per step, the same batch for every subnet of the sandwich
    num_random: int = 2  # random feasible subnets per sandwich, besides the largest and smallest
    # the sandwich's top, trained on the labels and distilled from: budget, the largest feasible
    # subnet (`SubnetSampler.largest`); space, the space's largest (`SubnetSampler.top`), over
    # the budget if need be, so that every channel and block is trained at every step
    teacher: str = "budget"
    # also train, every step, the teacher's attention-free twin (its width, resolution and IR
    # depths, no attention layer), distilled like the others: stand-alone, specs with fewer
    # attention layers rank higher, inherited lower (README, "Rank fidelity")
    attention_free: bool = False
    resolution_scale: float = 0.25  # a subnet trains at round(image_size x this), as the search
    lr: float | None = None  # peak LR (None: the paper's table at the largest's width)
    weight_decay: float | None = None  # AdamW decay (None: the paper's table)
    lr_scaling: str = "sqrt"  # how a table LR moves from batch 1024 to batch_size
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of the peak LR
    warmup_steps: int = 500  # linear warm-up from warmup_init_lr ...
    warmup_max_fraction: float = 0.05  # ... capped at this fraction of `steps`
    warmup_init_lr: float = 1e-6
    beta1: float = 0.9
    beta2: float = 0.999
    label_smoothing: float = 0.1  # of the largest subnet's cross-entropy on the labels
    grad_clip: float | None = 10.0  # max global norm of the sandwich's summed gradients
    augment: str = "light"  # transform policy of the training set (mv2search.data.POLICIES)
    precision: str = "auto"  # auto: bf16 autocast on CUDA with bf16 support, fp32 on CPU
    max_tries: int = 1000  # rejection-sampling draws per random subnet before giving up
    num_workers: int = 0  # data loader processes
    checkpoint_every_steps: int = 200  # atomic checkpoint period (also at the end)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_tries", "checkpoint_every_steps"):
            _check(name, getattr(self, name), _is_int(getattr(self, name), 1), "an integer >= 1")
        for name in ("num_random", "warmup_steps", "num_workers"):
            _check(name, getattr(self, name), _is_int(getattr(self, name), 0), "an integer >= 0")
        for name in ("resolution_scale", "lr", "grad_clip"):
            value = getattr(self, name)
            optional = name != "resolution_scale"
            ok = (optional and value is None) or (_is_number(value) and value > 0)
            _check(name, value, ok, "a number > 0" + (" or null" if optional else ""))
        ok = self.weight_decay is None or (_is_number(self.weight_decay) and self.weight_decay >= 0)
        _check("weight_decay", self.weight_decay, ok, "a number >= 0 or null")
        for name in ("min_lr_ratio", "label_smoothing", "beta1", "beta2"):
            value = getattr(self, name)
            _check(name, value, _is_number(value) and 0 <= value < 1, "a number in [0, 1)")
        value = self.warmup_max_fraction
        _check("warmup_max_fraction", value, _is_number(value) and 0 <= value <= 1, "[0, 1]")
        value = self.warmup_init_lr
        _check("warmup_init_lr", value, _is_number(value) and value >= 0, "a number >= 0")
        value = self.attention_free
        _check("attention_free", value, isinstance(value, bool), "true or false")
        for name, allowed in (
            ("lr_scaling", LR_SCALINGS),
            ("precision", PRECISIONS),
            ("augment", POLICIES),
            ("teacher", TEACHERS),
        ):
            value = getattr(self, name)
            _check(name, value, value in allowed, f"one of {list(allowed)}")

    def identity(self) -> dict[str, Any]:
        """Every field that decides the trained weights (for the run's cache key)."""
        values = asdict(self)
        for name in _MECHANICS:
            del values[name]
        if not values["attention_free"]:  # a field added later: runs cached before keep their key
            del values["attention_free"]
        return values

    def peak_lr_and_decay(self, width_multiplier: float) -> tuple[float, float]:
        """The peak LR and weight decay (`TrainerConfig.peak_lr_and_decay` with these values).

        Args:
            width_multiplier: The largest subnet's alpha (used by the table when `lr` or
                `weight_decay` is None).

        Returns:
            `(lr, weight_decay)`.
        """
        trainer = TrainerConfig(
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            lr_scaling=self.lr_scaling,
        )
        return trainer.peak_lr_and_decay(width_multiplier)


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"supernet_train.{name}={value!r}; allowed: {allowed}")
