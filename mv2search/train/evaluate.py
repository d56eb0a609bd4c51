"""Top-1/top-5 accuracy and loss on a validation loader, summed exactly across processes."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mv2search.train.distributed import DistContext, all_reduce_sum

__all__ = ["evaluate", "sync_buffers"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    context: DistContext,
    device: torch.device,
    autocast: bool = False,
) -> dict[str, float]:
    """Accuracy and cross-entropy (no smoothing) of `model` on every sample of `loader`.

    Under DDP each process reads its own shard (`EpochSampler(equal=False)`), so every sample is
    counted exactly once; the counts are summed before dividing.

    Args:
        model: The network (unwrapped; switched to eval mode and back).
        loader: Batches of `(images, labels, skipped)`.
        context: The job.
        device: Where `model` lives.
        autocast: Run the forward pass in bf16.

    Returns:
        `{"top1", "top5", "loss", "count"}`; accuracies are fractions in [0, 1].
    """
    was_training = model.training
    model.eval()
    correct1 = correct5 = loss_sum = count = 0.0
    for images, labels, _ in loader:
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(images).float()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top == labels[:, None]
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=1).sum().item()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        count += len(labels)
    model.train(was_training)
    correct1, correct5, loss_sum, count = all_reduce_sum(
        [correct1, correct5, loss_sum, count], context, device
    )
    total = max(count, 1.0)
    return {
        "top1": correct1 / total,
        "top5": correct5 / total,
        "loss": loss_sum / total,
        "count": int(count),
    }


def sync_buffers(model: nn.Module, context: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every process before evaluating.

    DDP broadcasts buffers at the start of each forward pass, so after the last training step the
    other ranks hold statistics one step older than rank 0's.

    Args:
        model: The unwrapped network.
        context: The job.
    """
    if context.active:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
