import pytest

from mv2search.arch import ArchSpec, build_model
from mv2search.cost import count_params
from mv2search.cost.params import attention_layer_params
from mv2search.testing import random_spec


@pytest.mark.parametrize("seed", range(100))
def test_count_params_equals_built_model(seed):
    spec = random_spec(seed)
    assert count_params(spec) == sum(p.numel() for p in build_model(spec).parameters())


@pytest.mark.parametrize("dim", [64, 96, 128, 144, 192, 256])
def test_layer_formulas_of_architecture_md(dim):
    # architecture.md 6.1: LinearAttnFFN 7d^2+11d+1, v1 layer 8d^2+11d (FFN 2d)
    assert attention_layer_params("separable", dim, 2 * dim) == 7 * dim**2 + 11 * dim + 1
    assert attention_layer_params("mha", dim, 2 * dim) == 8 * dim**2 + 11 * dim
    assert attention_layer_params("additive", dim, 2 * dim) == 8 * dim**2 + 12 * dim


def test_mha_swap_adds_d_squared_minus_one_per_layer():
    # architecture.md 3.3
    base = ArchSpec(attn_types=("separable",) * 3)
    swapped = base.replace(attn_types=("mha", "separable", "separable"))
    assert count_params(swapped) - count_params(base) == 2 * (128**2 - 1)
