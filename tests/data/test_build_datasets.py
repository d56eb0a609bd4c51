"""`build_datasets`: the public entry point and the dataset contract for the embedded set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mv2search.data as data_pkg
from mv2search.data import DataOptions, DataSplits, build_datasets


@pytest.fixture()
def options(tmp_path):
    return DataOptions(embedded_train_size=60, embedded_val_size=20, cache_dir=str(tmp_path))


def test_embedded_splits(options):
    data = build_datasets("embedded", 32, policy="imagenet", seed=1, options=options)
    assert isinstance(data, DataSplits) and data.source == "embedded"
    assert data.num_classes == 10 and len(data.class_names) == 10
    assert (len(data.train), len(data.val)) == (60, 20)
    for split in (data.train, data.val):
        assert split.seed == 1 and callable(split.set_epoch) and callable(split.collate)
    images, labels, skipped = data.train.collate([data.train[i] for i in range(4)])
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [0, 1, 2, 3] and skipped == []
    val_image, _ = data.val[0]
    assert torch.equal(val_image, data.val[0][0])  # eval is deterministic


def test_embedded_subset_is_balanced(options):
    subset = DataOptions(**{**options.__dict__, "subset": 0.5})
    data = build_datasets("embedded", 32, options=subset)
    assert len(data.train) == 30 and np.bincount(data.train.targets).tolist() == [3] * 10
    data.train.set_epoch(4)
    assert data.train.dataset.epoch == 4


def test_bad_sources_and_policies_are_named(options):
    with pytest.raises(
        FileNotFoundError, match=r"'imagenet' is neither 'embedded' nor an existing"
    ):
        build_datasets("imagenet", 32, options=options)
    with pytest.raises(ValueError, match=r"policy: 'heavy'; allowed: \['none', 'light'"):
        build_datasets("embedded", 32, policy="heavy", options=options)


def test_public_names_exist():
    for name in data_pkg.__all__:
        assert hasattr(data_pkg, name), name
