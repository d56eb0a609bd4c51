import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mv2search.arch import ATTN_TYPES, PRESETS, ArchSpec, build_model
from mv2search.testing import random_spec


def _check_forward_backward(spec: ArchSpec, image_size: int, batch: int = 2) -> None:
    torch.manual_seed(0)
    model = build_model(spec)
    x = torch.randn(batch, 3, image_size, image_size)
    logits = model(x)
    assert logits.shape == (batch, spec.num_classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    no_grad = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_forward_backward(name):
    _check_forward_backward(PRESETS[name].replace(num_classes=7), image_size=96)


@pytest.mark.parametrize("attn_type", [t for t in ATTN_TYPES if t != "none"])
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_each_attention_type_at_each_stage(attn_type, stage):
    types = ["none", "none", "none"]
    types[stage] = attn_type
    blocks = [0, 0, 0]
    blocks[stage] = 2
    spec = ArchSpec(
        width_multiplier=0.5, attn_types=tuple(types), attn_blocks=tuple(blocks), num_classes=5
    )
    _check_forward_backward(spec, image_size=72)


@pytest.mark.parametrize("seed", range(12))
def test_random_specs_forward_backward(seed):
    spec = random_spec(seed, max_image_size=128)
    _check_forward_backward(spec, spec.image_size)


@pytest.mark.parametrize("image_size", [64, 65, 97, 130, 512])
@pytest.mark.parametrize("style", ["v2", "v1"])
def test_resolutions_including_non_divisible(image_size, style):
    spec = ArchSpec(
        width_multiplier=0.25,
        attn_types=("separable", "mha", "additive"),
        block_style=style,
        image_size=image_size,
        num_classes=3,
    )
    with torch.inference_mode():
        logits = build_model(spec).eval()(torch.randn(1, 3, image_size, image_size))
    assert logits.shape == (1, 3) and torch.isfinite(logits).all()


def test_forward_features_and_pre_logits():
    spec = PRESETS["mobilevitv2_050"].replace(num_classes=10)
    model = build_model(spec).eval()
    with torch.inference_mode():
        features = model.forward_features(torch.randn(1, 3, 128, 128))
        pooled = model.forward_head(features, pre_logits=True)
    assert features.shape == (1, 256, 4, 4)
    assert pooled.shape == (1, model.num_features) == (1, 256)


class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("attn_type", ["separable", "mha", "additive"])
def test_no_python_loop_over_tokens(attn_type):
    # Tokens are folded by reshape/permute: the number of ops a block dispatches does not grow with
    # the number of tokens.
    counts = []
    for size in (64, 256):
        spec = ArchSpec(width_multiplier=0.25, image_size=size, attn_types=(attn_type,) * 3)
        block = build_model(spec).eval().stages[2][1]
        with torch.inference_mode(), _OpCounter() as counter:
            block(torch.randn(1, 64, size // 8, size // 8))
        counts.append(counter.count)
    assert counts[0] == counts[1]


def test_build_model_rejects_non_spec():
    with pytest.raises(TypeError, match="expected an ArchSpec"):
        build_model({"width_multiplier": 1.0})
