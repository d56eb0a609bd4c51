"""Shared helpers of the supernet tests: small bounds, and weights that make slicing visible."""

from __future__ import annotations

import torch

from mv2search.arch import mobilevitv2
from mv2search.supernet import Supernet, SupernetBounds
from mv2search.supernet.bounds import ATTENTION_TYPES

SMALL_SPECS = [
    mobilevitv2(
        0.75,
        num_classes=10,
        ir_depths=(2, 2, 2, 2, 2),
        attn_blocks=(2, 2, 2),
        attn_types=(kind, kind, kind),
        ffn_multiplier=3.0,
    )
    for kind in ATTENTION_TYPES
]

# A tiny search space for the supernet training tests (`tiny_space` in conftest.py).
TINY_SPACE_YAML = """\
name: tiny
base: mobilevitv2_050
fixed: {num_classes: 10}
parameters:
  - {name: width_multiplier, type: float, bounds: [0.5, 0.75], step: 0.25}
  - {name: image_size, type: int, bounds: [128, 192], step: 64}
  - {name: ir_depths.1, type: int, bounds: [1, 2]}
  - {name: attn_blocks.0, type: int, bounds: [1, 2]}
  - {name: attn_types.2, type: choice, values: [separable, mha]}
  - {name: ffn_multiplier, type: choice, values: [1.5, 2.0]}
"""


def small_supernet(seed: int = 0) -> Supernet:
    """A supernet up to alpha 0.75, depth 2 everywhere, all three attention types, ffn 3.0."""
    torch.manual_seed(seed)
    return perturb(Supernet(SupernetBounds.covering(SMALL_SPECS)), seed)


@torch.no_grad()
def perturb(supernet: Supernet, seed: int) -> Supernet:
    """Randomise what the init leaves constant (biases, norm affines, BatchNorm statistics), so a
    wrong slice of any of them changes the logits; weights keep their (random) init."""
    generator = torch.Generator().manual_seed(seed)
    for param in supernet.parameters():
        noise = 0.1 * torch.randn(param.shape, generator=generator)
        if param.dim() == 1:
            param.add_(noise)
    for name, buffer in supernet.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
        elif name.endswith("running_var"):
            buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
    # a larger head, so that logits are far from zero and a tolerance relative to them is tight
    supernet.head.weight.mul_(20.0)
    return supernet
