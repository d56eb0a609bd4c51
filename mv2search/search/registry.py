"""Choosing an implementation by the name a config gives it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["lookup"]

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, key: str) -> T:
    """`table[name]`, or a `ValueError` naming the config `key` and the allowed names."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"{key}: {name!r} is not known; allowed: {list(table)}") from None
