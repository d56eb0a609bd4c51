"""Image folders: `root/<class>/<image>`, or `root/train/<class>/...` and `root/val/<class>/...`.

Classes are the sorted names of the class subfolders; images are files below them (at any depth)
whose extension is one of `IMAGE_EXTENSIONS`, in any letter case. Without `train`/`val` subfolders,
the one folder is split into train and val by `splits.stratified_split` (seeded, per class).

A file that cannot be decoded never stops an epoch: `ImageFolderDataset.__getitem__` returns a
`Skipped(path)` marker and `collate_skip` drops it from the batch and reports its path.
`verify_images` finds such files up front.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from mv2search.data.collate import Skipped, collate_skip
from mv2search.data.seeding import EpochSeeded, sample_generator
from mv2search.data.splits import stratified_split
from mv2search.data.transforms import Transform

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUT",
    "ImageFolderDataset",
    "find_classes",
    "scan_folder",
    "folder_samples",
    "verify_images",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
LAYOUT = (
    "root/<class>/<image>.jpg|.jpeg|.png|.bmp|.webp, or root/train/<class>/<image> together with "
    "root/val/<class>/<image>"
)
# what PIL raises for unreadable, truncated or hostile files
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
Sample = tuple[str, int]


def find_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """Sorted names of the class subfolders of `root` (hidden folders are ignored).

    Raises:
        FileNotFoundError: if `root` is not a folder.
        ValueError: if it has no subfolders.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; expected {LAYOUT}")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "."))
    if not classes:
        raise ValueError(f"image folder {root} has no class subfolders; expected {LAYOUT}")
    return classes


def scan_folder(
    root: str | os.PathLike, classes: tuple[str, ...] | None = None
) -> tuple[list[Sample], tuple[str, ...]]:
    """List `(path, label)` for every image below `root/<class>/`, sorted by path.

    Args:
        root: The folder holding one subfolder per class.
        classes: The class names to use (default: `find_classes(root)`); each must exist.

    Returns:
        `(samples, classes)`.

    Raises:
        FileNotFoundError: if `root` or one of `classes` is missing.
        ValueError: if `root` has no class subfolders or a class has no images.
    """
    root = Path(root)
    classes = find_classes(root) if classes is None else classes
    samples: list[Sample] = []
    empty = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"class folder {folder} does not exist; expected {LAYOUT}")
        files = sorted(
            str(Path(dirpath) / file)
            for dirpath, _, files in os.walk(folder, followlinks=True)
            for file in files
            if file.lower().endswith(IMAGE_EXTENSIONS) and not file.startswith(".")
        )
        if not files:
            empty.append(str(folder))
        samples += [(path, label) for path in files]
    if empty:
        raise ValueError(
            f"class folders without images ({', '.join(IMAGE_EXTENSIONS)}): {empty}; "
            f"expected {LAYOUT}"
        )
    return samples, classes


def folder_samples(
    root: str | os.PathLike, val_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample], tuple[str, ...]]:
    """Train and val samples of an image folder (see the module docstring for the layouts).

    Args:
        root: The image folder.
        val_fraction: Share of each class for val when there are no `train`/`val` subfolders.
        seed: Seed of that split.

    Returns:
        `(train_samples, val_samples, class_names)`.

    Raises:
        FileNotFoundError, ValueError: for a missing folder or a layout that does not match.
    """
    root = Path(root)
    train_dir, val_dir = root / "train", root / "val"
    if train_dir.is_dir() and val_dir.is_dir():
        classes = find_classes(train_dir)
        val_classes = find_classes(val_dir)
        if val_classes != classes:
            missing = sorted(set(classes) ^ set(val_classes))
            raise ValueError(
                f"{train_dir} and {val_dir} have different classes (only in one: {missing}); "
                "expected the same class subfolders in both"
            )
        return scan_folder(train_dir, classes)[0], scan_folder(val_dir, classes)[0], classes
    if train_dir.is_dir() != val_dir.is_dir():
        present = train_dir if train_dir.is_dir() else val_dir
        raise ValueError(f"found {present} but not its partner; expected {LAYOUT}")
    samples, classes = scan_folder(root)
    labels = np.array([label for _, label in samples])
    train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    return [samples[i] for i in train_idx], [samples[i] for i in val_idx], classes


def _decode(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")  # convert() forces the full decode


def _check_one(path: str) -> str | None:
    try:
        _decode(path)
    except _DECODE_ERRORS:
        return path
    return None


def verify_images(paths: list[str], threads: int = 4) -> list[str]:
    """Decode every file fully and return the paths that fail (in input order).

    Args:
        paths: Files to check.
        threads: Decoder threads (PIL releases the GIL while decoding).

    Returns:
        The undecodable paths.
    """
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(
            tqdm(
                pool.map(_check_one, paths),
                total=len(paths),
                desc="verify images",
                unit="img",
                disable=True if len(paths) < 1000 else None,  # None: only on a terminal
            )
        )
    return [path for path in results if path is not None]


class ImageFolderDataset(EpochSeeded):
    """Images from files as `(transform(image, generator), label)`, or `Skipped(path)` for a file
    that cannot be decoded (`collate_skip` drops it from the batch).

    Args:
        samples: `(path, label)` pairs.
        class_names: Name of every label.
        transform: `transform(image, generator) -> tensor` (e.g. `build_transform(...)`).
        seed: Seed of the augmentation, with `(epoch, index)`.
    """

    collate = staticmethod(collate_skip)

    def __init__(
        self,
        samples: list[Sample],
        class_names: tuple[str, ...],
        transform: Transform,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.samples = list(samples)
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        self.class_names, self.transform, self.seed = tuple(class_names), transform, seed

    def verify(self, threads: int = 4) -> list[str]:
        """Paths of this dataset's files that cannot be decoded (see `verify_images`)."""
        return verify_images([path for path, _ in self.samples], threads)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | Skipped:
        path, label = self.samples[index]
        try:
            image = _decode(path)
        except _DECODE_ERRORS as error:
            return Skipped(path, f"{type(error).__name__}: {error}")
        return self.transform(image, sample_generator(self.seed, self.epoch, index)), label
