"""A small embedded data set (32 px, 640 train / 200 val images) shared by the training tests."""

from __future__ import annotations

import dataclasses

import pytest

from mv2search.arch import get_preset
from mv2search.data import DataOptions, build_datasets

IMAGE_SIZE = 32
TRAIN_SIZE, VAL_SIZE = 640, 200


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> str:
    """One cache folder for the whole session, so the images are drawn once."""
    return str(tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="session")
def small_options(data_cache) -> DataOptions:
    return DataOptions(
        embedded_train_size=TRAIN_SIZE, embedded_val_size=VAL_SIZE, cache_dir=data_cache
    )


@pytest.fixture
def small_data(small_options):
    return build_datasets("embedded", IMAGE_SIZE, policy="light", seed=0, options=small_options)


@pytest.fixture(scope="session")
def small_spec():
    return dataclasses.replace(get_preset("mobilevitv2_050"), image_size=IMAGE_SIZE)
