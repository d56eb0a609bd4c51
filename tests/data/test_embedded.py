"""The embedded data set: determinism, balance, resolutions, cache, dataset contract."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from mv2search.data import embedded, scenes
from mv2search.data.embedded import (
    CLASS_NAMES,
    EmbeddedShapes,
    cache_path,
    generate_split,
    load_or_generate,
    render_image,
)
from mv2search.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transform


def _digest(images: np.ndarray) -> str:
    return hashlib.sha256(images.tobytes()).hexdigest()


def test_same_seed_same_bytes_different_seed_different():
    first, labels = generate_split(0, "val", 20, 32)
    second, _ = generate_split(0, "val", 20, 32)
    other, _ = generate_split(1, "val", 20, 32)
    train, _ = generate_split(0, "train", 20, 32)
    assert first.dtype == np.uint8 and first.shape == (20, 32, 32, 3)
    assert first.tobytes() == second.tobytes()
    assert all(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert not np.array_equal(first, train)  # the split is part of the seed
    assert labels.dtype == np.int64 and labels.tolist() == [i % 10 for i in range(20)]


def test_workers_do_not_change_the_images():
    one, _ = generate_split(3, "train", 30, 32, workers=1)
    two, _ = generate_split(3, "train", 30, 32, workers=2)
    assert one.tobytes() == two.tobytes()


def test_another_process_draws_the_same_bytes():
    images, _ = generate_split(5, "test", 10, 40)
    code = (
        "import hashlib; from mv2search.data.embedded import generate_split; "
        "print(hashlib.sha256(generate_split(5, 'test', 10, 40)[0].tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(images)


def test_two_processes_writing_one_cache_file_leave_it_whole(tmp_path):
    code = (
        "import sys; from mv2search.data.embedded import load_or_generate; "
        "load_or_generate(2, 'val', 200, 32, sys.argv[1])"
    )
    ranks = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(2)]
    assert [rank.wait() for rank in ranks] == [0, 0]
    assert [p.name for p in tmp_path.iterdir()] == [cache_path(tmp_path, 2, "val", 200, 32).name]
    images, _ = load_or_generate(2, "val", 200, 32, tmp_path)
    assert images.tobytes() == generate_split(2, "val", 200, 32)[0].tobytes()


def test_one_image_regenerated_alone_equals_the_cached_copy(tmp_path):
    images, labels = load_or_generate(7, "train", 30, 48, tmp_path)
    for index in (0, 13, 29):
        image, label = render_image(7, "train", index, 48)
        assert np.array_equal(image, images[index]) and label == labels[index]


@pytest.mark.parametrize("size", [32, 77, 128])
def test_any_resolution(size):
    images, _ = generate_split(0, "val", 10, size)
    assert images.shape == (10, size, size, 3)
    assert images.std() > 20  # not blank: background, objects and noise


def test_classes_are_exactly_balanced():
    _, labels = generate_split(0, "train", 50, 32)
    assert np.bincount(labels).tolist() == [5] * 10
    assert len(CLASS_NAMES) == 10
    with pytest.raises(ValueError, match="size: 25; allowed: a positive multiple of 10"):
        generate_split(0, "train", 25, 32)
    with pytest.raises(ValueError, match="split: 'dev'; allowed"):
        generate_split(0, "dev", 10, 32)


def test_cache_is_reused_not_regenerated(tmp_path, monkeypatch):
    images, labels = load_or_generate(0, "val", 20, 32, tmp_path)
    path = cache_path(tmp_path, 0, "val", 20, 32)
    assert path.is_file() and path.parent == tmp_path
    mtime = path.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(embedded, "generate_split", fail)
    again, again_labels = load_or_generate(0, "val", 20, 32, tmp_path)
    assert again.tobytes() == images.tobytes() and np.array_equal(again_labels, labels)
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_cache_key_separates_settings_and_a_broken_file_is_regenerated(tmp_path):
    keys = {
        cache_path(tmp_path, *args)
        for args in [
            (0, "val", 20, 32),
            (1, "val", 20, 32),
            (0, "train", 20, 32),
            (0, "val", 30, 32),
            (0, "val", 20, 33),
        ]
    }
    assert len(keys) == 5
    path = cache_path(tmp_path, 0, "val", 20, 32)
    path.write_bytes(b"PK\x03\x04 truncated")
    images, _ = load_or_generate(0, "val", 20, 32, tmp_path)
    assert images.shape == (20, 32, 32, 3) and path.stat().st_size > 20 * 32 * 32 * 3


def test_dataset_returns_normalised_float_and_int_label(tmp_path):
    data = EmbeddedShapes("val", 32, 20, seed=0, cache_dir=tmp_path)
    image, label = data[11]
    raw = torch.from_numpy(data.images[11]).permute(2, 0, 1).float() / 255
    mean, std = (
        torch.tensor(IMAGENET_MEAN)[:, None, None],
        torch.tensor(IMAGENET_STD)[:, None, None],
    )
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert torch.allclose(image, (raw - mean) / std, atol=1e-5)
    assert label == 1 and isinstance(label, int)
    assert len(data) == 20 and data.seed == 0 and data.class_names == CLASS_NAMES


def test_augmentation_depends_on_seed_epoch_index_only(tmp_path):
    transform = build_transform("light", 32, True, label_preserving=EmbeddedShapes.label_preserving)
    data = EmbeddedShapes("train", 32, 20, seed=0, transform=transform, cache_dir=tmp_path)
    first = data[3][0]
    assert torch.equal(first, data[3][0])  # no hidden state between calls
    data.set_epoch(1)
    assert data.epoch == 1 and not torch.equal(first, data[3][0])
    data.set_epoch(0)
    assert torch.equal(first, data[3][0])


def test_persistent_workers_see_set_epoch(tmp_path):
    transform = build_transform("light", 32, True, label_preserving=EmbeddedShapes.label_preserving)
    data = EmbeddedShapes("train", 32, 20, seed=0, transform=transform, cache_dir=tmp_path)
    loader = torch.utils.data.DataLoader(
        data, batch_size=5, num_workers=2, persistent_workers=True, collate_fn=data.collate
    )
    for epoch in (0, 1):
        data.set_epoch(epoch)
        batched = torch.cat([images for images, _, _ in loader])
        expected = torch.stack([data[i][0] for i in range(20)])
        assert torch.equal(batched, expected), f"epoch {epoch}"


def test_layouts_are_mirror_symmetric_and_keep_the_margin():
    for offsets in scenes.LAYOUTS.values():
        mirrored = sorted((-x, y) for x, y in offsets)
        assert np.allclose(mirrored, sorted(offsets), atol=1e-6)
    nuisance = scenes.NUISANCE
    for label, scene in enumerate(scenes.CLASSES):
        for index in range(20):
            rng = np.random.default_rng([label, index])
            centres, radius = scenes._layout(scene.arrangement, rng, nuisance)
            assert centres.min() - 1.55 * radius >= nuisance.margin - 1e-9
            assert centres.max() + 1.55 * radius <= 1 - nuisance.margin + 1e-9
            if scene.arrangement == "pair":  # "above" stays vertical
                assert centres[1, 1] - centres[0, 1] > abs(centres[1, 0] - centres[0, 0])


def test_colour_cue_classes():
    still = dataclasses.replace(scenes.NUISANCE, hue_jitter=0.0)
    offsets = []
    for index in range(30):
        rng = np.random.default_rng(index)
        top, bottom = scenes._colours("warm_above_cool", 2, rng, still)
        assert top in scenes.WARM_HUES and bottom in scenes.COOL_HUES
        same = scenes._colours("same", 3, rng, still)
        assert len(set(same)) == 1
        odd = scenes._colours("odd", 3, rng, still)  # one of three turned by 40-110 degrees
        common = [h for h in odd if odd.count(h) == 2]
        (other,) = [h for h in odd if odd.count(h) == 1]
        offsets.append(abs(other - common[0]))
    assert 40.0 <= min(offsets) and max(offsets) <= 110.0
    assert max(offsets) - min(offsets) > 30.0  # graded: hard and easy images


def test_size_cue_classes():
    for index in range(30):
        rng = np.random.default_rng(index)
        equal = scenes._scales("equal", 4, rng, scenes.NUISANCE)
        assert max(equal) / min(equal) <= 1.04 / 0.96 + 1e-9
        odd = sorted(scenes._scales("odd", 4, rng, scenes.NUISANCE))
        assert 1.25 * 0.96 / 1.04 <= odd[1] / odd[0] and odd[0] >= 1 / 1.8
