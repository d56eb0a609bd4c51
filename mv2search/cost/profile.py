"""A profiler count of a built model with fvcore, the cross-check of the analytic `count_macs`."""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from mv2search.cost.macs import FVCORE_HANDLES

__all__ = ["fvcore_macs"]


def fvcore_macs(model: nn.Module, image_size: int, with_attention_matmuls: bool = True) -> int:
    """Count MACs of `model` on one `3 x image_size x image_size` image with fvcore, in eval mode.

    Args:
        model: The network (its train/eval mode is restored afterwards).
        image_size: Input side in pixels.
        with_attention_matmuls: Add `FVCORE_HANDLES` (attention matmuls inside fused SDPA);
            without it the count equals plain fvcore's, as in timm's model tables.

    Returns:
        The total MACs fvcore reports.
    """
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, torch.zeros(1, 3, image_size, image_size))
        if with_attention_matmuls:
            analysis.set_op_handle(**FVCORE_HANDLES)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
        with warnings.catch_warnings():  # fvcore traces with TorchScript, deprecated in torch 2.x
            warnings.simplefilter("ignore", DeprecationWarning)
            return int(analysis.total())
    finally:
        model.train(was_training)
