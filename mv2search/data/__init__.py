"""Data: the embedded shapes set, image folders, seeded transforms, batch mixing and subsets.

```python
from mv2search.data import build_datasets, collate_skip

data = build_datasets("embedded", 64, policy="light", seed=0)   # or a folder path
data.train.set_epoch(3)
image, label = data.train[0]                                     # float32 3 x 64 x 64, int
```

Every dataset returned has `.seed`, `.set_epoch(epoch)`, `.targets`, `.class_names` and
`.collate` (= `collate_skip`, which drops undecodable images and lists their paths). A sample's
augmentation is seeded by `(seed, epoch, index)`, so it does not depend on the DataLoader.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from mv2search.data.collate import Skipped, collate_skip
from mv2search.data.embedded import (
    CLASS_NAMES,
    EMBEDDED_AUGMENTATIONS,
    EmbeddedShapes,
    generator_digest,
)
from mv2search.data.folder import LAYOUT, ImageFolderDataset, folder_samples, verify_images
from mv2search.data.mixing import MixConfig, Mixup, mix, one_hot_smooth
from mv2search.data.seeding import derive_seed, sample_generator
from mv2search.data.splits import SubsetDataset, balanced_subset, stratified_split, subset_or_all
from mv2search.data.transforms import (
    NATURAL_IMAGES,
    POLICIES,
    LabelPreserving,
    build_transform,
)

__all__ = [
    "check_source",
    "CLASS_NAMES",
    "EMBEDDED",
    "EMBEDDED_AUGMENTATIONS",
    "NATURAL_IMAGES",
    "POLICIES",
    "DataOptions",
    "DataSplits",
    "EmbeddedShapes",
    "ImageFolderDataset",
    "LabelPreserving",
    "MixConfig",
    "Mixup",
    "Skipped",
    "SubsetDataset",
    "balanced_subset",
    "build_datasets",
    "build_transform",
    "collate_skip",
    "derive_seed",
    "mix",
    "one_hot_smooth",
    "sample_generator",
    "source_identity",
    "stratified_split",
]

EMBEDDED = "embedded"


@dataclass
class DataOptions:
    """Settings of `build_datasets` beyond the source, resolution, policy and seed.

    Not frozen: it is also the Hydra schema of `train.py`'s `data_options`, and Hydra cannot
    merge into a schema built from a frozen dataclass.
    """

    # images in the embedded train / val splits (multiples of 10; see bench_difficulty.py)
    embedded_train_size: int = 10_000
    embedded_val_size: int = 2_000
    # share of each class held out for val when a folder has no train/ and val/ subfolders
    val_fraction: float = 0.1
    # class-balanced train subset: a fraction in (0, 1], an int count, or None = all
    subset: float | int | None = None
    # cache of the embedded set; None = <runs_dir>/data/embedded of the app (`under`), or
    # runs/data/embedded relative to the working directory
    cache_dir: str | None = None
    # eval centre-crop fraction for folders (shorter side resized to image_size / crop_pct)
    crop_pct: float = 0.875
    # decode every folder image up front and drop the undecodable ones
    verify: bool = False

    def under(self, runs_dir: str | Path) -> DataOptions:
        """These options with the embedded cache in `<runs_dir>/data/embedded` unless set."""
        if self.cache_dir is not None:
            return self
        return dataclasses.replace(self, cache_dir=str(Path(runs_dir) / "data" / "embedded"))


@dataclass(frozen=True)
class DataSplits:
    """A train and a val dataset of one source."""

    train: Dataset  # augmented with the policy
    val: Dataset  # eval transform
    num_classes: int
    class_names: tuple[str, ...]
    source: str  # "embedded" or the folder path


def _embedded(image_size: int, policy: str, seed: int, options: DataOptions) -> DataSplits:
    train_tf = build_transform(policy, image_size, True, label_preserving=EMBEDDED_AUGMENTATIONS)
    train = EmbeddedShapes(
        "train", image_size, options.embedded_train_size, seed, train_tf, options.cache_dir
    )
    val = EmbeddedShapes(
        "val", image_size, options.embedded_val_size, seed, None, options.cache_dir
    )
    train = subset_or_all(train, options.subset, seed)
    return DataSplits(train, val, len(CLASS_NAMES), CLASS_NAMES, EMBEDDED)


def _folder(
    root: Path, image_size: int, policy: str, seed: int, options: DataOptions
) -> DataSplits:
    train_samples, val_samples, classes = folder_samples(root, options.val_fraction, seed)
    if options.verify:
        bad = set(verify_images([path for path, _ in train_samples + val_samples]))
        train_samples = [s for s in train_samples if s[0] not in bad]
        val_samples = [s for s in val_samples if s[0] not in bad]
    build = dict(image_size=image_size, crop_pct=options.crop_pct)
    train = ImageFolderDataset(
        train_samples, classes, build_transform(policy, train=True, **build), seed
    )
    val = ImageFolderDataset(
        val_samples, classes, build_transform("none", train=False, **build), seed
    )
    train = subset_or_all(train, options.subset, seed)
    return DataSplits(train, val, len(classes), classes, str(root))


def source_identity(source: str | os.PathLike) -> str:
    """What a run trained on `source` depends on, for the keys of cached runs: the embedded
    set's generator digest (a changed generator retrains), or the folder's path."""
    if str(source) == EMBEDDED:
        return f"{EMBEDDED}/{generator_digest()}"
    return str(source)


def check_source(
    source: str | os.PathLike, options: DataOptions | None = None, seed: int = 0
) -> None:
    """Check a data source before anything is built or trained on it: the embedded set, or an
    image folder with class subfolders that hold images (`folder.LAYOUT`). Lists the files; does
    not decode them.

    Raises:
        ValueError: naming `data.source` and what is wrong (missing, empty, no classes, a class
            without images, a train/ without val/), with the layout allowed.
    """
    if str(source) == EMBEDDED:
        return
    options = options or DataOptions()
    root = Path(source)
    if not root.is_dir():
        raise ValueError(
            f"data.source: {str(source)!r} is neither {EMBEDDED!r} nor an existing folder; "
            f"allowed: {EMBEDDED!r} or a folder laid out as {LAYOUT}"
        )
    try:
        folder_samples(root, options.val_fraction, seed)
    except (OSError, ValueError) as err:
        raise ValueError(f"data.source: {err}") from err


def build_datasets(
    source: str | os.PathLike,
    image_size: int,
    *,
    policy: str = "light",
    seed: int = 0,
    options: DataOptions | None = None,
) -> DataSplits:
    """Train and val datasets of the embedded set or of an image folder.

    Args:
        source: `"embedded"` or the path of an image folder (`folder.LAYOUT`).
        image_size: Side of the model input in pixels.
        policy: Train augmentation, one of `POLICIES`; for the embedded set it is restricted to
            `EMBEDDED_AUGMENTATIONS`.
        seed: Seed of the embedded images, of the folder split, of the subset and of the
            augmentation.
        options: Sizes, split, subset, cache and verification (default `DataOptions()`).

    Returns:
        The `DataSplits`.

    Raises:
        FileNotFoundError: if `source` is neither "embedded" nor an existing folder.
        ValueError: for a bad policy, size, subset or folder layout.
    """
    options = options or DataOptions()
    if policy not in POLICIES:
        raise ValueError(f"policy: {policy!r}; allowed: {list(POLICIES)}")
    if str(source) == EMBEDDED:
        return _embedded(image_size, policy, seed, options)
    root = Path(source)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data source {str(source)!r} is neither {EMBEDDED!r} nor an existing folder; "
            f"allowed: {EMBEDDED!r} or a folder laid out as root/<class>/<image>"
        )
    return _folder(root, image_size, policy, seed, options)
