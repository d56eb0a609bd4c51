"""Image folders: layouts, errors, deterministic stratified split, corrupt files through a
DataLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mv2search.data import DataOptions, build_datasets, collate_skip
from mv2search.data.collate import Skipped
from mv2search.data.folder import (
    ImageFolderDataset,
    folder_samples,
    scan_folder,
    verify_images,
)
from mv2search.data.transforms import build_transform

CLASSES = ("cat", "dog", "emu")
PER_CLASS = 10


def _write_images(root, per_class=PER_CLASS, corrupt=True):
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        folder = root / name
        (folder / "nested").mkdir(parents=True)
        for i in range(per_class):
            array = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
            array[..., label] = 255  # a class colour
            ext = (".png", ".JPG", ".jpeg", ".Png", ".bmp")[i % 5]
            target = folder / ("nested" if i == 0 else "") / f"img{i}{ext}"
            Image.fromarray(array).save(
                target,
                format={".jpg": "JPEG", ".jpeg": "JPEG"}.get(ext.lower(), ext.lower()[1:].upper()),
            )
        (folder / "notes.txt").write_text("not an image")
    if corrupt:
        whole = root / "dog" / "img1.JPG"
        whole.write_bytes(whole.read_bytes()[:200])  # truncated JPEG
    return root / "dog" / "img1.JPG"


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    bad = _write_images(root)
    return root, str(bad)


def test_scan_finds_classes_and_every_extension(folder):
    root, _ = folder
    samples, classes = scan_folder(root)
    assert classes == CLASSES
    assert len(samples) == 3 * PER_CLASS  # .txt ignored, nested files found
    assert [label for _, label in samples] == sorted(label for _, label in samples)
    assert any("nested" in path for path, _ in samples)


def test_missing_and_badly_laid_out_folders_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere does not exist; expected root/<class>"):
        scan_folder(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"flat has no class subfolders; expected root/<class>"):
        scan_folder(tmp_path / "flat")
    (tmp_path / "flat" / "empty_class").mkdir()
    (tmp_path / "flat" / "full_class").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "full_class" / "x.png")
    with pytest.raises(ValueError, match=r"class folders without images .*empty_class"):
        scan_folder(tmp_path / "flat")
    with pytest.raises(FileNotFoundError, match=r"'nowhere' is neither 'embedded' nor"):
        build_datasets("nowhere", 32)


def test_split_is_deterministic_and_stratified(folder):
    root, _ = folder
    train, val, classes = folder_samples(root, 0.2, seed=0)
    again = folder_samples(root, 0.2, seed=0)
    other = folder_samples(root, 0.2, seed=1)
    assert (train, val) == (again[0], again[1]) and val != other[1]
    assert not {p for p, _ in train} & {p for p, _ in val}
    assert np.bincount([label for _, label in val]).tolist() == [2, 2, 2]
    assert len(train) + len(val) == 3 * PER_CLASS and classes == CLASSES


def test_train_val_subfolders_are_used_as_given(tmp_path):
    for part, count in (("train", 5), ("val", 2)):
        (tmp_path / part).mkdir()
        _write_images(tmp_path / part, per_class=count, corrupt=False)
    train, val, classes = folder_samples(tmp_path, 0.5, seed=0)
    assert len(train) == 15 and len(val) == 6 and classes == CLASSES
    assert all("/val/" in path for path, _ in val)
    (tmp_path / "val" / "cat").rename(tmp_path / "val" / "cow")
    with pytest.raises(ValueError, match=r"different classes \(only in one: \['cat', 'cow'\]\)"):
        folder_samples(tmp_path, 0.5, seed=0)


def test_corrupt_file_is_skipped_through_a_dataloader(folder):
    root, bad = folder
    samples, classes = scan_folder(root)
    data = ImageFolderDataset(samples, classes, build_transform("imagenet", 16, True), seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2, collate_fn=collate_skip)
    seen, skipped = 0, []
    for images, labels, skipped_paths in loader:
        assert images.shape == (len(labels), 3, 16, 16) and images.dtype == torch.float32
        seen += len(labels)
        skipped += skipped_paths
    assert skipped == [bad] and seen == len(samples) - 1
    marker = data[[path for path, _ in samples].index(bad)]
    assert isinstance(marker, Skipped) and marker.path == bad and "OSError" in marker.reason


def test_verify_finds_the_corrupt_file_and_build_datasets_drops_it(folder):
    root, bad = folder
    samples, _ = scan_folder(root)
    assert verify_images([path for path, _ in samples]) == [bad]
    data = build_datasets(root, 16, options=DataOptions(val_fraction=0.2, verify=True))
    paths = [path for path, _ in data.train.samples + data.val.samples]
    assert bad not in paths and len(paths) == 3 * PER_CLASS - 1
    assert data.num_classes == 3 and data.class_names == CLASSES and data.source == str(root)


def test_collate_skip_all_skipped_and_mixed():
    images, labels, skipped = collate_skip([Skipped("a"), None])
    assert images.shape[0] == 0 and labels.shape == (0,) and skipped == ["a", "<unknown>"]
    good = (torch.ones(3, 4, 4), 2)
    images, labels, skipped = collate_skip([good, Skipped("b"), good])
    assert images.shape == (2, 3, 4, 4) and labels.tolist() == [2, 2] and skipped == ["b"]


def test_folder_datasets_follow_the_contract(folder):
    root, _ = folder
    data = build_datasets(root, 24, policy="full", seed=3, options=DataOptions(subset=6))
    assert len(data.train) == 6 and np.bincount(data.train.targets).tolist() == [2, 2, 2]
    index = next(i for i in range(6) if not isinstance(data.train[i], Skipped))
    first = data.train[index][0]
    assert first.shape == (3, 24, 24) and torch.equal(first, data.train[index][0])
    data.train.set_epoch(2)
    assert not torch.equal(first, data.train[index][0]) and data.train.seed == 3
    image, label = data.val[0]
    assert image.shape == (3, 24, 24) and label == data.val.targets[0]
