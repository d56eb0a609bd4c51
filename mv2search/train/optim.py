"""AdamW with the cvnets parameter groups, the warm-up + cosine schedule, and EMA weights.

Schedules (per optimizer step `t` of `T`, warm-up `W`):

    lr(t) = init + (peak - init) * t / W                                  for t < W
    cosine: lr(t) = min + (peak - min) * (1 + cos(pi * (t - W) / (T - W))) / 2    otherwise
    wsd:    lr(t) = peak                                                           otherwise

with `min = peak * min_lr_ratio`. A `wsd` (warm-up, stable, decay) run is scored after a decay
branch of `D` steps from its stable weights: `lr_i = peak - (peak - min) * (i + 1) / D` for the
branch's step `i` (`decay_lr`); the run itself goes on at the peak. The LR is a pure function of
the step, so a resumed run needs no scheduler state.

EMA (cvnets' momentum form): `ema <- (1 - m) * ema + m * weights` after every step, buffers
(BatchNorm statistics) copied.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = [
    "build_optimizer",
    "decay_lr",
    "decay_steps_for",
    "lr_at",
    "warmup_steps_for",
    "ModelEma",
]


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights (cvnets'
    `no_decay_bn_filter_bias`).

    Args:
        model: The network.
        lr: Initial LR (the schedule overwrites it every step).
        weight_decay: Decoupled weight decay for the weight matrices and kernels.
        betas: Adam's `(beta1, beta2)`.

    Returns:
        The optimizer, with two parameter groups (decay, no decay).
    """
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def warmup_steps_for(total_steps: int, warmup_steps: int, max_fraction: float) -> int:
    """The warm-up length: the configured steps, capped at a fraction of the run.

    The paper warms up for 20k of ~375k steps (5.3%); a short run keeps that proportion.

    Args:
        total_steps: All optimizer steps of the run.
        warmup_steps: Configured warm-up.
        max_fraction: Cap as a fraction of `total_steps`.

    Returns:
        The warm-up length in steps.
    """
    return min(warmup_steps, int(max_fraction * total_steps))


def lr_at(
    step: int,
    total_steps: int,
    warmup: int,
    peak: float,
    floor: float,
    init: float,
    schedule: str = "cosine",
) -> float:
    """The learning rate at `step` (formula in the module docstring).

    Args:
        step: Optimizer steps already taken.
        total_steps: All steps of the schedule.
        warmup: Warm-up steps.
        peak: Peak LR.
        floor: Final LR.
        init: LR at step 0 when warming up.
        schedule: `cosine` or `wsd` (the stable phase: the peak).

    Returns:
        The LR.
    """
    if step < warmup:
        return init + (peak - init) * step / warmup
    if schedule == "wsd":
        return peak
    span = max(total_steps - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def decay_steps_for(step: int, fraction: float) -> int:
    """The decay branch that scores a `wsd` run at `step`: `fraction` of its steps, >= 1."""
    return max(1, round(fraction * step))


def decay_lr(i: int, length: int, peak: float, floor: float) -> float:
    """The LR of step `i` (from 0) of a decay branch of `length` steps: linear to `floor`."""
    return peak - (peak - floor) * (i + 1) / length


class ModelEma:
    """Exponential moving average of a model's weights (kept on the model's device).

    Args:
        model: The network being trained (an unwrapped module, not DDP).
        momentum: Weight of the new value per update (cvnets uses 0.0005).
    """

    def __init__(self, model: nn.Module, momentum: float) -> None:
        self.module = copy.deepcopy(model).eval()
        self.momentum = momentum
        self._parameter_names = {name for name, _ in self.module.named_parameters()}
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards `model`'s current weights; copy its buffers."""
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            if name in self._parameter_names:
                ema_state[name].lerp_(value, self.momentum)
            else:
                ema_state[name].copy_(value)
