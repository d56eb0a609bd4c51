"""Transforms: shapes, explicit randomness, every RandAugment op, erasing, policies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from mv2search.data import functional as TF
from mv2search.data.embedded import EMBEDDED_AUGMENTATIONS
from mv2search.data.randaugment import RANDAUGMENT_OPS, RandAugment, RandomErasing
from mv2search.data.transforms import (
    POLICIES,
    Normalize,
    RandomHorizontalFlip,
    RandomPadCrop,
    RandomResizedCrop,
    Resize,
    build_transform,
)


def _image(height=40, width=56, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (3, height, width), dtype=np.uint8))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("train", [True, False])
def test_policies_give_normalised_float_at_size(policy, train):
    photo = Image.fromarray(_image(50, 70).permute(1, 2, 0).numpy())
    out = build_transform(policy, 32, train)(photo, _gen(0))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    stored = _image(32, 32).permute(1, 2, 0).numpy()  # embedded images come at size
    out = build_transform(policy, 32, train, label_preserving=EMBEDDED_AUGMENTATIONS)(
        stored, _gen(0)
    )
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


@pytest.mark.parametrize("policy", ["light", "imagenet", "full"])
def test_same_generator_seed_same_output_and_no_global_rng(policy):
    transform = build_transform(policy, 32, True)
    image = _image()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = transform(image, _gen(5))
    assert torch.equal(first, transform(image, _gen(5)))
    assert any(not torch.equal(first, transform(image, _gen(s))) for s in range(6, 9))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_embedded_policies_use_only_label_preserving_ops():
    full = build_transform("full", 32, True, label_preserving=EMBEDDED_AUGMENTATIONS)
    names = [type(t).__name__ for t in full.transforms]
    assert names == ["RandomResizedCrop", "RandomHorizontalFlip", "RandAugment", "Normalize"]
    assert full.transforms[0].scale == (0.7, 1.0)
    assert not {"color", "solarize", "equalize"} & set(full.transforms[2].ops)
    evaluation = build_transform("none", 32, False, label_preserving=EMBEDDED_AUGMENTATIONS)
    assert [type(t).__name__ for t in evaluation.transforms] == ["Normalize"]


def test_normalize_uses_imagenet_statistics():
    mean = torch.tensor([0.485, 0.456, 0.406]) * 255
    image = mean.round().to(torch.uint8)[:, None, None].expand(3, 2, 2)
    assert Normalize()(image, _gen(0)).abs().max() < 0.01
    white = Normalize()(torch.full((3, 1, 1), 255, dtype=torch.uint8), _gen(0))
    assert torch.allclose(white.flatten(), torch.tensor([2.2489, 2.4286, 2.64]), atol=1e-3)


def test_eval_resize_shorter_side_then_centre_crop():
    image = _image(100, 200)
    out = Resize(64, crop_pct=0.8)(image, _gen(0))  # shorter side 80, crop 64
    assert out.shape == (3, 64, 64)
    expected = TF.center_crop(TF.resize_shorter(image, 80, "bicubic"), 64)
    assert torch.equal(out, expected)
    photo = Image.fromarray(image.permute(1, 2, 0).numpy())
    via_pil = Resize(64, crop_pct=0.8)(photo, _gen(0))
    assert (via_pil.float() - expected.float()).abs().mean() < 12  # PIL and torch resamplers


def test_random_resized_crop_box_respects_scale_and_ratio():
    crop = RandomResizedCrop(32, scale=(0.3, 0.6), ratio=(0.5, 2.0))
    for seed in range(50):
        top, left, h, w = crop.box(80, 100, _gen(seed))
        assert 0 <= top and top + h <= 80 and 0 <= left and left + w <= 100
        assert 0.27 <= h * w / 8000 <= 0.63 and 0.45 <= w / h <= 2.2


def test_flip_and_pad_crop():
    image = _image(16, 16)
    assert torch.equal(RandomHorizontalFlip(1.0)(image, _gen(0)), image.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(image, _gen(0)), image)
    identity = RandomPadCrop(16, translate=0.0, zoom=(1.0, 1.0))
    assert torch.equal(identity(image, _gen(0)), image)
    shifted = [RandomPadCrop(16, translate=0.25)(image, _gen(s)) for s in range(10)]
    assert all(s.shape == (3, 16, 16) for s in shifted)
    assert sum(not torch.equal(s, image) for s in shifted) >= 8


@pytest.mark.parametrize("op", RANDAUGMENT_OPS)
def test_every_randaugment_op_runs(op):
    image = _image(32, 48) // 2 + 40  # low contrast, so that autocontrast has work to do
    out = RandAugment(ops=(op,)).apply(image, op, sign=1.0)
    assert out.shape == image.shape and out.dtype == torch.uint8
    if op != "identity":
        assert not torch.equal(out, image), op


def test_randaugment_ops_match_their_definitions():
    image = _image(24, 24)
    augment = RandAugment(magnitude=5.0)  # strength 0.5
    assert torch.equal(augment.apply(image, "posterize"), image & 0xFC)  # 8 - 2 = 6 bits
    solarized = augment.apply(image, "solarize")
    assert torch.equal(solarized, torch.where(image >= 128, 255 - image, image))
    bright = augment.apply(image, "brightness", sign=-1.0)  # factor 1 - 0.45
    assert torch.equal(bright, (image.float() * 0.55).round().clamp(0, 255).to(torch.uint8))
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    equalized = torch.from_numpy(np.array(ImageOps.equalize(pil))).permute(2, 0, 1)
    assert torch.equal(augment.apply(image, "equalize"), equalized)
    contrast = torch.from_numpy(np.array(ImageOps.autocontrast(pil))).permute(2, 0, 1)
    assert (augment.apply(image, "autocontrast").int() - contrast.int()).abs().max() <= 1
    shifted = RandAugment(magnitude=10.0, translate=0.25).apply(image, "translate_x", sign=1.0)
    assert torch.equal(shifted[:, :, 6:], image[:, :, :-6])  # 0.25 x 24 px to the right
    assert (shifted[:, :, :6] == 128).all()


def test_randaugment_draws_from_the_generator():
    augment = RandAugment()
    image = _image()
    assert torch.equal(augment(image, _gen(1)), augment(image, _gen(1)))
    with pytest.raises(ValueError, match=r"ops: unknown \['hue'\]"):
        RandAugment(ops=("hue",))


def test_random_erasing():
    image = torch.zeros(3, 32, 32)
    erased = RandomErasing(p=1.0)(image, _gen(0))
    changed = (erased != 0).any(0).float().mean().item()
    assert 0.02 * 0.9 <= changed <= 1 / 3 + 0.02
    assert torch.equal(image, torch.zeros(3, 32, 32))  # the input is not modified
    assert torch.equal(RandomErasing(p=0.0)(image, _gen(0)), image)
    assert torch.equal(RandomErasing(p=1.0)(image, _gen(0)), erased)
    rate = np.mean(
        [not torch.equal(RandomErasing(0.25)(image, _gen(s)), image) for s in range(400)]
    )
    assert 0.18 < rate < 0.32


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match=r"policy: 'strong'; allowed: \['none', 'light'"):
        build_transform("strong", 32, True)
    with pytest.raises(ValueError, match=r"crop_pct: 1.5; allowed"):
        Resize(32, crop_pct=1.5)
    with pytest.raises(TypeError, match="expected uint8 H x W x 3"):
        TF.to_uint8_tensor(np.zeros((4, 4), np.float32))
