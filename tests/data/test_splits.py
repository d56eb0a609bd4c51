"""Stratified splits, balanced subsets, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from mv2search.data.seeding import derive_seed, sample_generator
from mv2search.data.splits import SubsetDataset, balanced_subset, stratified_split

LABELS = np.repeat(np.arange(4), [10, 20, 5, 1])


def test_stratified_split_partitions_and_keeps_proportions():
    train, val = stratified_split(LABELS, 0.2, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(LABELS)))
    assert np.bincount(LABELS[val], minlength=4).tolist() == [2, 4, 1, 0]  # singleton stays
    again = stratified_split(LABELS, 0.2, seed=0)
    assert np.array_equal(val, again[1]) and not np.array_equal(
        val, stratified_split(LABELS, 0.2, seed=1)[1]
    )
    with pytest.raises(ValueError, match=r"val_fraction: 1.0; allowed: a number in \(0, 1\)"):
        stratified_split(LABELS, 1.0, seed=0)


def test_fraction_subset_is_balanced_nested_and_deterministic():
    small = balanced_subset(LABELS, 0.2, seed=0)
    large = balanced_subset(LABELS, 0.6, seed=0)
    assert np.bincount(LABELS[small], minlength=4).tolist() == [2, 4, 1, 1]
    assert set(small) <= set(large)
    assert np.array_equal(small, balanced_subset(LABELS, 0.2, seed=0))
    assert len(balanced_subset(LABELS, 1.0, seed=0)) == len(LABELS)


def test_count_subset_is_exact_and_as_equal_as_the_classes_allow():
    subset = balanced_subset(LABELS, 22, seed=0)
    assert len(subset) == 22
    counts = np.bincount(LABELS[subset], minlength=4)
    assert counts[3] == 1 and counts[2] == 5 and sorted(counts[:2].tolist()) == [8, 8]
    even = balanced_subset(np.arange(100) % 10, 30, seed=0)
    assert np.bincount(np.arange(100)[even] % 10).tolist() == [3] * 10
    odd = np.bincount(np.arange(100)[balanced_subset(np.arange(100) % 10, 13, 0)] % 10)
    assert sorted(odd.tolist()) == [1] * 7 + [2] * 3
    for bad in (0, 37, 1.5, "all"):
        with pytest.raises(ValueError, match="subset: .*; allowed"):
            balanced_subset(LABELS, bad, seed=0)


def test_subset_dataset_forwards_the_contract():
    class Data:
        targets = np.arange(20) % 2
        seed, class_names, epoch = 4, ("a", "b"), 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __getitem__(self, index):
            return index

    data = Data()
    view = SubsetDataset(data, [3, 8])
    assert len(view) == 2 and view[1] == 8 and view.targets.tolist() == [1, 0]
    view.set_epoch(5)
    assert data.epoch == 5 and view.seed == 4 and view.class_names == ("a", "b")


def test_derive_seed_is_stable_and_separates_tuples():
    assert derive_seed(0, 0, 0) == derive_seed(0, 0, 0) < 2**63
    seeds = {derive_seed(s, e, i) for s in range(3) for e in range(3) for i in range(30)}
    assert len(seeds) == 270
    assert derive_seed(1, 23) != derive_seed(12, 3)
    assert derive_seed(0, 1, 2) == 9058871843155686531  # golden value: changing it breaks resume
    g1, g2 = sample_generator(1, 2, 3), sample_generator(1, 2, 3)
    assert g1.initial_seed() == g2.initial_seed()
