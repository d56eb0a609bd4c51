"""MixUp/CutMix: soft targets, lambda, switching, smoothing values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mv2search.data.mixing import MixConfig, Mixup, draw_mix, mix, one_hot_smooth


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(size=6, height=16, width=16):
    images = (
        torch.arange(size, dtype=torch.float32)[:, None, None, None]
        .expand(size, 3, height, width)
        .clone()
    )
    return images, torch.arange(size) % 4


def test_one_hot_smooth_values_are_exact():
    targets = one_hot_smooth(torch.tensor([2, 0]), 10, 0.1)
    assert torch.allclose(targets[0, 2], torch.tensor(0.91)) and torch.allclose(
        targets[0, 0], torch.tensor(0.01)
    )
    assert torch.allclose(targets.sum(1), torch.ones(2))
    assert torch.equal(one_hot_smooth(torch.tensor([1]), 3), torch.tensor([[0.0, 1.0, 0.0]]))


def test_mixup_images_and_targets_share_lambda():
    images, labels = _batch()
    config = MixConfig(cutmix_alpha=0.0, label_smoothing=0.0)
    for seed in range(10):
        mixed, targets = mix(images, labels, 4, _gen(seed), config)
        lam = draw_mix(config, 16, 16, _gen(seed)).lam
        assert torch.allclose(mixed, lam * images + (1 - lam) * images.flip(0), atol=1e-6)
        assert torch.allclose(targets.sum(1), torch.ones(6))
        # sample 0 (label 0) is mixed with sample 5 (label 1)
        assert torch.allclose(targets[0, :2], torch.tensor([lam, 1 - lam]), atol=1e-6)


def test_cutmix_lambda_is_the_share_of_kept_pixels():
    images, labels = _batch()
    config = MixConfig(mixup_alpha=0.0, label_smoothing=0.1)
    for seed in range(20):
        mixed, targets = mix(images, labels, 4, _gen(seed), config)
        draw = draw_mix(config, 16, 16, _gen(seed))
        kept = (mixed[0, 0] == 0).float().mean().item()  # sample 0 is all zeros, partner all 5
        assert draw.mode == "cutmix" and kept == pytest.approx(draw.lam)
        smooth_0, smooth_1 = one_hot_smooth(torch.tensor([0, 1]), 4, 0.1)
        expected = draw.lam * smooth_0 + (1 - draw.lam) * smooth_1
        assert torch.allclose(targets[0], expected, atol=1e-6)
        assert torch.allclose(targets.sum(1), torch.ones(6))


def test_switching_and_lambda_distributions():
    config = MixConfig()
    draws = [draw_mix(config, 32, 32, _gen(seed)) for seed in range(600)]
    cutmix_share = np.mean([d.mode == "cutmix" for d in draws])
    assert 0.43 < cutmix_share < 0.57
    mixup = np.array([d.lam for d in draws if d.mode == "mixup"])
    # Beta(0.2, 0.2): U-shaped, mean 1/2, most mass near 0 or 1
    assert abs(mixup.mean() - 0.5) < 0.08 and np.mean((mixup < 0.1) | (mixup > 0.9)) > 0.5
    cutmix = np.array([d.lam for d in draws if d.mode == "cutmix"])
    # Beta(1, 1) has mean 1/2; clipping the box at the border keeps more pixels (timm's correction)
    assert 0.0 <= cutmix.min() and cutmix.max() <= 1.0 and 0.55 < cutmix.mean() < 0.8


def test_off_and_probability():
    images, labels = _batch()
    mixed, targets = mix(images, labels, 4, _gen(0), MixConfig(prob=0.0, label_smoothing=0.2))
    assert mixed is images and torch.allclose(targets, one_hot_smooth(labels, 4, 0.2))
    assert draw_mix(MixConfig(mixup_alpha=0, cutmix_alpha=0), 8, 8, _gen(0)).mode == "none"
    half = [draw_mix(MixConfig(prob=0.5), 8, 8, _gen(s)).mode for s in range(400)]
    assert 0.4 < np.mean([m == "none" for m in half]) < 0.6


def test_same_seed_same_mix_and_input_untouched():
    images, labels = _batch()
    copy = images.clone()
    first = mix(images, labels, 4, _gen(7))
    second = mix(images, labels, 4, _gen(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(images, copy)


def test_config_validation():
    with pytest.raises(ValueError, match=r"mixup_alpha: -1; allowed: >= 0"):
        MixConfig(mixup_alpha=-1)
    with pytest.raises(ValueError, match=r"label_smoothing: 1.5; allowed: 0..1"):
        MixConfig(label_smoothing=1.5)


def test_mixup_object_binds_the_settings():
    images, labels = _batch()
    mixer = Mixup(num_classes=4, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    mixed, targets = mixer(images, labels, _gen(3))
    config = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    expected = mix(images, labels, 4, _gen(3), config)
    assert torch.equal(mixed, expected[0]) and torch.equal(targets, expected[1])
