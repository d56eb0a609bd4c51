"""Search: the search space as data, its fixed-length encoding, and (later) the search loop."""

from __future__ import annotations

from mv2search.search._parameter import Parameter
from mv2search.search.space import SearchSpace, available_spaces, load_space, spaces_dir

__all__ = ["Parameter", "SearchSpace", "available_spaces", "load_space", "spaces_dir"]
