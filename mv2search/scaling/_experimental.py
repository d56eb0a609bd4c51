"""`@experimental`: mark a public function of `mv2search.scaling` as unstable (STYLE.md 15)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ExperimentalWarning", "experimental"]


class ExperimentalWarning(UserWarning):
    """Warned once when an experimental function is first called."""


F = TypeVar("F", bound=Callable[..., Any])
_WARNED: set[str] = set()


def experimental(since: str) -> Callable[[F], F]:
    """Note "experimental since `since`" in the docstring and warn once per function when called."""

    def wrap(func: F) -> F:
        note = f"\n\n    .. note:: Experimental since {since}; may change without notice.\n"
        func.__doc__ = (func.__doc__ or "") + note

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if func.__qualname__ not in _WARNED:
                _WARNED.add(func.__qualname__)
                message = f"{func.__qualname__} is experimental (since {since})"
                warnings.warn(message, ExperimentalWarning, stacklevel=2)
            return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
