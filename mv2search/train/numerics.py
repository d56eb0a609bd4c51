"""The per-step numerics: loss, gradient clipping, precision, batch mixing, out-of-memory tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mv2search.data import Mixup
from mv2search.train.config import TrainerConfig

__all__ = ["loss_fn", "clip_gradients", "use_bf16", "build_mixer", "is_oom"]

Mixer = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def loss_fn(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy against hard labels (with smoothing) or soft targets (smoothing already in).

    Args:
        logits: `B x C`.
        targets: `B` class indices, or `B x C` probabilities from MixUp/CutMix.
        label_smoothing: Smoothing for hard labels.

    Returns:
        The mean loss, a scalar.
    """
    if targets.ndim == 2:
        return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()
    return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


def clip_gradients(model: nn.Module, max_norm: float | None) -> torch.Tensor:
    """Clip the global gradient norm (when `max_norm` is set) and return the norm before clipping.

    Args:
        model: The network after `backward()`.
        max_norm: The cap, or None to only measure.

    Returns:
        The total 2-norm of all gradients, a scalar tensor (non-finite when training diverged).
    """
    parameters = [p for p in model.parameters() if p.grad is not None]
    if max_norm is None:
        return torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters])
        )
    return nn.utils.clip_grad_norm_(parameters, max_norm)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to autocast to bfloat16.

    `auto` uses bf16 on CUDA devices that support it and fp32 on CPU, where bf16 matmuls are only
    fast with AMX/AVX512-BF16 (benchmarks/bench_train.py measures both).

    Args:
        precision: `auto`, `fp32` or `bf16`.
        device: The training device.

    Returns:
        True for bf16 autocast.
    """
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def build_mixer(cfg: TrainerConfig, num_classes: int) -> Mixer | None:
    """MixUp/CutMix for the batch, or None when both alphas are 0.

    Args:
        cfg: Gives `mixup_alpha`, `cutmix_alpha` and `label_smoothing`.
        num_classes: Width of the soft targets.

    Returns:
        `mix(images, labels, generator) -> (images, soft targets B x C)`, or None.
    """
    if cfg.mixup_alpha <= 0 and cfg.cutmix_alpha <= 0:
        return None
    return Mixup(
        mixup_alpha=cfg.mixup_alpha,
        cutmix_alpha=cfg.cutmix_alpha,
        label_smoothing=cfg.label_smoothing,
        num_classes=num_classes,
    )


def is_oom(err: BaseException) -> bool:
    """Whether an exception is an allocation failure (CUDA OOM, CPU allocator, MemoryError)."""
    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(err)
    return "out of memory" in text or "can't allocate memory" in text
