"""The embedded data set: ten classes of procedurally drawn shapes, at any resolution, from a seed.

A label depends on the global arrangement of 2-4 main objects (vertical or horizontal pair, column
or row of three, triangle, square) and on graded relational cues (the colour relation of the
vertical pair: one hue family, warm above cool, or cool above warm; one object of the triangle in
another hue; one object of the square smaller); see `scenes.CLASSES`. Heavy nuisance (background
shading and texture, object kind, size, rotation, position, distractors, noise) keeps a linear
classifier on pixels far below a small CNN/ViT (`benchmarks/bench_difficulty.py`).

Image `index` of `split` has label `index % 10` (splits are exactly balanced; sizes must be
multiples of 10) and is drawn by a numpy generator seeded from `(GENERATOR_VERSION, seed, split,
index)`, so `render_image` regenerates any image alone, bit-identical across processes and
machines. A split is generated once and cached as `<cache_dir>/<key>.npz` (uint8 `N x H x W x 3`
images, int64 labels), written atomically (temporary file + `os.replace`), so that concurrent
processes (DDP ranks) never see a partial file.

Generation speed (one process of this project's CPU, measured): about 800 images/s at 32 px, 490
at 64 px, 120 at 128 px and 34 at 256 px; the 12,000 images of the default 64 px train + val sets
take about 25 s. `EmbeddedShapes` draws large sets with up to 4 processes (`generate_split`'s
`workers`); the result does not depend on the number of processes.

Label-preserving augmentations (`EMBEDDED_AUGMENTATIONS`): horizontal flip yes (every class is
mirror-symmetric; vertical flip NO, it swaps "above"); translation up to 6 % (main objects keep 10 %
from the border) and zoom 0.95-1.05 (`light`); RandomResizedCrop only with area 0.7-1 and aspect
0.85-1.18; RandAugment only its geometric ops (rotation <= 15 degrees, translation <= 8 %, shear
<= 0.27) and sharpness; NO colour ops (hue is a cue) and NO random erasing (it can delete an object
and change the count). MixUp/CutMix mix labels by construction: regularisers, not label-preserving.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mv2search.data.collate import collate_skip
from mv2search.data.scenes import CLASS_NAMES, CLASSES, NUISANCE, render_scene
from mv2search.data.seeding import EpochSeeded, sample_generator
from mv2search.data.transforms import LabelPreserving, Transform, build_transform
from mv2search.files import atomic_writer

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_CACHE_DIR",
    "EMBEDDED_AUGMENTATIONS",
    "GENERATOR_VERSION",
    "generator_digest",
    "SPLITS",
    "EmbeddedShapes",
    "cache_path",
    "generate_split",
    "load_or_generate",
    "render_image",
]

GENERATOR_VERSION = 3  # bump whenever a drawn pixel changes; it is part of the cache key
SPLITS = ("train", "val", "test")
DEFAULT_CACHE_DIR = Path("runs/data/embedded")
EMBEDDED_AUGMENTATIONS = LabelPreserving(
    hflip=True,
    crop_scale=(0.7, 1.0),
    crop_ratio=(0.85, 1.18),
    translate=0.08,
    light_translate=0.06,
    light_zoom=(0.95, 1.05),
    rotate=15.0,
    randaugment_ops=(
        "identity",
        "rotate",
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
        "sharpness",
    ),
    erasing=False,
    stored_at_size=True,
)
_PROGRESS_MIN = 300  # show a progress bar from this many images
_CHUNK = 250  # images per worker task


def _check(split: str, image_size: int, size: int) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: {split!r}; allowed: {list(SPLITS)}")
    if not isinstance(image_size, int) or not 16 <= image_size <= 1024:
        raise ValueError(f"image_size: {image_size!r}; allowed: an int in 16..1024")
    if not isinstance(size, int) or size <= 0 or size % len(CLASS_NAMES):
        raise ValueError(
            f"size: {size!r}; allowed: a positive multiple of {len(CLASS_NAMES)} (balanced classes)"
        )


def render_image(seed: int, split: str, index: int, image_size: int) -> tuple[np.ndarray, int]:
    """Draw image `index` of a split on its own (identical to the cached copy).

    Args:
        seed: Data set seed.
        split: One of `SPLITS`.
        index: Position in the split; the label is `index % 10`.
        image_size: Side in pixels.

    Returns:
        `(image, label)`: `H x W x 3` uint8 and the class index.
    """
    label = index % len(CLASS_NAMES)
    entropy = [GENERATOR_VERSION, seed, SPLITS.index(split), index]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    return render_scene(label, image_size, rng, NUISANCE), label


def _render_range(seed: int, split: str, start: int, stop: int, image_size: int) -> np.ndarray:
    return np.stack([render_image(seed, split, i, image_size)[0] for i in range(start, stop)])


def generate_split(
    seed: int, split: str, size: int, image_size: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a whole split (no cache).

    Args:
        seed: Data set seed.
        split: One of `SPLITS`.
        size: Number of images (a multiple of 10).
        image_size: Side in pixels.
        workers: Processes to draw with (1 = this process). The result does not depend on it.

    Returns:
        `(images, labels)`: uint8 `N x H x W x 3` and int64 `N`.
    """
    _check(split, image_size, size)
    chunks = [(start, min(size, start + _CHUNK)) for start in range(0, size, _CHUNK)]
    progress = tqdm(
        total=size,
        desc=f"embedded {split} {image_size}px",
        unit="img",
        disable=True if size < _PROGRESS_MIN else None,  # None: only on a terminal
    )
    parts: list[np.ndarray] = []
    with progress:
        if workers <= 1:
            for start, stop in chunks:
                parts.append(_render_range(seed, split, start, stop, image_size))
                progress.update(stop - start)
        else:
            # fork: spawn would re-run an unguarded user script in every worker
            context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [
                    pool.submit(_render_range, seed, split, a, b, image_size) for a, b in chunks
                ]
                for future, (start, stop) in zip(futures, chunks, strict=True):
                    parts.append(future.result())
                    progress.update(stop - start)
    labels = np.arange(size, dtype=np.int64) % len(CLASS_NAMES)
    return np.concatenate(parts), labels


def cache_path(
    cache_dir: str | os.PathLike, seed: int, split: str, size: int, image_size: int
) -> Path:
    """`<cache_dir>/<split>-<image_size>px-n<size>-s<seed>-<hash>.npz`; the hash covers the
    generator version, the class table and the nuisance settings, so that a changed generator
    never reads a stale set."""
    identity = json.dumps([*_generator_identity(), seed, split, size, image_size])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{split}-{image_size}px-n{size}-s{seed}-{digest}.npz"


def _generator_identity() -> list:
    return [
        GENERATOR_VERSION,
        [dataclasses.astuple(c) for c in CLASSES],
        dataclasses.asdict(NUISANCE),
    ]


def generator_digest() -> str:
    """A short hash of what draws the pixels (generator version, class table, nuisance), for
    the keys of anything computed from the set (training runs), so that none outlives a change."""
    return hashlib.sha256(json.dumps(_generator_identity()).encode()).hexdigest()[:12]


def _read(path: Path, size: int, image_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None if the file is missing or not what the key promises."""
    try:
        with np.load(path) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    if images.shape != (size, image_size, image_size, 3) or labels.shape != (size,):
        return None
    return images, labels


def _write_atomic(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    with atomic_writer(path) as file:
        np.savez(file, images=images, labels=labels)


def load_or_generate(
    seed: int,
    split: str,
    size: int,
    image_size: int,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a split from the cache, generating and caching it first if needed.

    Args:
        seed: Data set seed.
        split: One of `SPLITS`.
        size: Number of images (a multiple of 10).
        image_size: Side in pixels.
        cache_dir: Cache folder; default `runs/data/embedded` relative to the working directory.
        workers: Processes to draw with when generating.

    Returns:
        `(images, labels)`: uint8 `N x H x W x 3` and int64 `N`.
    """
    _check(split, image_size, size)
    path = cache_path(
        DEFAULT_CACHE_DIR if cache_dir is None else cache_dir, seed, split, size, image_size
    )
    cached = _read(path, size, image_size)
    if cached is not None:
        return cached
    images, labels = generate_split(seed, split, size, image_size, workers)
    _write_atomic(path, images, labels)
    return images, labels


class EmbeddedShapes(EpochSeeded):
    """The embedded data set as a torch `Dataset` of `(image, label)`.

    `image` is `transform(uint8 3 x H x W, generator)` with a generator seeded from
    `(seed, epoch, index)` (default transform: normalise only, float32 `3 x H x W`); `label` is an
    int. `set_epoch` changes the augmentation of every sample; it is stored in shared memory, so
    persistent DataLoader workers see it too.

    Args:
        split: One of `SPLITS`.
        image_size: Side in pixels (the images are drawn at this size).
        size: Number of images (a multiple of 10).
        seed: Seed of the images and of the augmentation.
        transform: `transform(image, generator) -> tensor`; None = `build_transform("none", ...)`.
        cache_dir: Cache folder; default `runs/data/embedded` relative to the working directory.
    """

    class_names = CLASS_NAMES
    label_preserving = EMBEDDED_AUGMENTATIONS

    def __init__(
        self,
        split: str = "train",
        image_size: int = 64,
        size: int = 10_000,
        seed: int = 0,
        transform: Transform | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        workers = min(4, os.cpu_count() or 1) if size * image_size**2 >= 2000 * 64**2 else 1
        self.images, self.targets = load_or_generate(
            seed, split, size, image_size, cache_dir, workers
        )
        self.split, self.image_size, self.seed = split, image_size, seed
        self.transform = transform or build_transform(
            "none", image_size, train=False, label_preserving=EMBEDDED_AUGMENTATIONS
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1)
        generator = sample_generator(self.seed, self.epoch, index)
        return self.transform(image, generator), int(self.targets[index])

    collate = staticmethod(collate_skip)  # the embedded set never skips a sample
