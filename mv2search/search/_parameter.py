"""One search-space parameter: its grid, its coordinate, and the `ArchSpec` field it sets.

A parameter addresses a field (`image_size`), one element `field.i` of a tuple field
(`ir_depths.0`), or, named after a tuple field with `scale: true` (`ir_depths`), multiplies that
tuple of the base preset elementwise (round half up, so 1.5 -> 2):

    ir_depths:    new_i = max(1, floor(base_i * value + 1/2))
    attn_blocks:  new_i = 0 if base_i == 0 or value == 0, else max(1, floor(base_i * value + 1/2))

Coordinate (one per parameter): `int` / `float` give the raw value (its natural log with
`log: true`), `choice` gives the index into `values`. An `int` parameter without `step` has step 1;
a `float` parameter without `step` is continuous.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mv2search.arch import ArchSpec
from mv2search.search._coupling import couple_attention, scale_depths

__all__ = ["PARAMETER_TYPES", "Parameter"]

PARAMETER_TYPES = ("int", "float", "choice")
PARAMETER_KEYS = ("name", "type", "bounds", "values", "step", "log", "scale")
SCALABLE_FIELDS = ("ir_depths", "attn_blocks")
_DEFAULT = ArchSpec()
# Explicit widths (`channels`, `attn_dims`) are not searched: the width is `width_multiplier`.
SEARCHABLE_FIELDS = tuple(
    f.name for f in dataclasses.fields(ArchSpec) if f.name not in ("name", "channels", "attn_dims")
)
TUPLE_LENGTHS = {
    name: len(getattr(_DEFAULT, name))
    for name in SEARCHABLE_FIELDS
    if isinstance(getattr(_DEFAULT, name), tuple)
}


def _same(allowed: Any, value: Any) -> bool:
    """Equal, without taking True for 1 (YAML reads `yes` as a bool)."""
    return allowed == value and isinstance(allowed, bool) == isinstance(value, bool)


def _is_number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if integer else math.isfinite(value)


@dataclass(frozen=True)
class Parameter:
    """One coordinate of a search space (Ax's Range/ChoiceParameterConfig shape).

    Validates itself on construction; every error names the parameter.
    """

    # `field`, or `field.i` (one element of a tuple field); with `scale`, a tuple field.
    name: str
    # "int", "float" or "choice".
    type: str
    # [low, high] of an int/float parameter (inclusive).
    bounds: tuple[Any, Any] | None = None
    # Ordered allowed values of a choice parameter.
    values: tuple[Any, ...] | None = None
    # Grid spacing of an int/float parameter (int default 1; float default continuous).
    step: int | float | None = None
    # Encode an int/float parameter by its natural log.
    log: bool = False
    # The value multiplies the base preset's tuple `name` elementwise (a depth multiplier).
    scale: bool = False

    def __post_init__(self) -> None:
        for key in ("bounds", "values"):
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))
        self._validate()

    @classmethod
    def from_dict(cls, data: Any) -> Parameter:
        """Build a parameter from one YAML entry.

        Args:
            data: A mapping with the keys of `PARAMETER_KEYS` (`name` and `type` required).

        Returns:
            The validated parameter.

        Raises:
            ValueError: for a non-mapping, a missing or unknown key, or an invalid value.
        """
        if not isinstance(data, dict):
            raise ValueError(f"parameter {data!r}: expected a mapping with keys {PARAMETER_KEYS}")
        label = data.get("name", "?")
        unknown = sorted(set(data) - set(PARAMETER_KEYS))
        if unknown:
            raise ValueError(
                f"parameter {label!r}: unknown key(s) {unknown}; allowed: {list(PARAMETER_KEYS)}"
            )
        for key in ("name", "type"):
            if key not in data:
                raise ValueError(f"parameter {label!r}: missing key {key!r}")
        return cls(**data)

    # ----------------------------------------------------------------------------------- target
    @property
    def field(self) -> str:
        """The `ArchSpec` field this parameter sets."""
        return self.name.split(".")[0]

    @property
    def index(self) -> int | None:
        """The element of a tuple field this parameter sets (None: the whole field)."""
        if self.scale or "." not in self.name:
            return None
        return int(self.name.split(".", 1)[1])

    def apply(self, data: dict[str, Any], base: ArchSpec, value: Any) -> None:
        """Set this parameter's field to `value` in `data` (in place).

        Args:
            data: An `ArchSpec.to_dict()` of the spec being decoded.
            base: The base spec (a `scale` parameter multiplies its tuple).
            value: A raw value of this parameter (an element of `grid()` or within `bounds`).
        """
        if self.scale:
            base_depths = getattr(base, self.field)
            keep_zero = self.field == "attn_blocks"
            data[self.field] = list(scale_depths(base_depths, value, keep_zero))
        elif self.index is None:
            data[self.field] = value
        else:
            data[self.field] = list(data[self.field])
            data[self.field][self.index] = value

    # ------------------------------------------------------------------------------------ grid
    @property
    def is_discrete(self) -> bool:
        """Whether the parameter has a finite grid (all but float without step)."""
        return self.type != "float" or self.step is not None

    @property
    def num_points(self) -> int | None:
        """Number of grid points (None when continuous)."""
        if self.type == "choice":
            return len(self.values or ())
        if not self.is_discrete:
            return None
        low, high = self.bounds or (0, 0)
        return round((high - low) / self._step) + 1

    def grid(self) -> tuple[Any, ...] | None:
        """The allowed raw values in order, or None for a continuous parameter.

        Returns:
            `low, low + step, ..., high` for int/float, `values` for choice.
        """
        if self.num_points is None:
            return None
        return tuple(self._point(k) for k in range(self.num_points))

    @property
    def encoded_bounds(self) -> tuple[float, float]:
        """Lower and upper bound of the coordinate (`[0, k - 1]` for a choice of k values)."""
        if self.type == "choice":
            return 0.0, float(len(self.values or ()) - 1)
        low, high = self.bounds or (0, 0)
        return self.encode_value(low), self.encode_value(high)

    def describe(self) -> str:
        """The allowed values in words, for error messages."""
        if self.type == "choice":
            return f"one of {list(self.values or ())}"
        low, high = self.bounds or (0, 0)
        step = f" step {self.step}" if self.step is not None else ""
        return f"{self.type} in [{low}, {high}]{step}{' (log)' if self.log else ''}"

    @property
    def _step(self) -> int | float:
        return self.step if self.step is not None else 1

    def _point(self, k: int) -> Any:
        if self.type == "choice":
            return (self.values or ())[k]
        value = (self.bounds or (0, 0))[0] + k * self._step
        return int(value) if self.type == "int" else round(float(value), 12)

    # -------------------------------------------------------------------------------- encoding
    def encode_value(self, value: Any) -> float:
        """The coordinate of a raw value: choice index, the value, or its log.

        Args:
            value: A raw value of this parameter.

        Returns:
            The coordinate.

        Raises:
            ValueError: for a choice value that is not in `values`.
        """
        if self.type == "choice":
            for position, allowed in enumerate(self.values or ()):
                if _same(allowed, value):
                    return float(position)
            raise self.error(f"{value!r} is not one of {list(self.values or ())}")
        return math.log(value) if self.log else float(value)

    def grid_value(self, value: Any) -> Any | None:
        """The allowed raw value equal to `value`.

        Args:
            value: A field value read from a spec.

        Returns:
            The grid point (or, when continuous, the value) equal to it; None when not allowed.
        """
        if self.type == "choice":
            return next((v for v in self.values or () if _same(v, value)), None)
        if not _is_number(value, integer=False):
            return None
        low, high = self.bounds or (0, 0)
        if not self.is_discrete:
            return float(value) if low <= value <= high else None
        k = (value - low) / self._step
        nearest = round(k)
        if not 0 <= nearest < (self.num_points or 0) or abs(k - nearest) > 1e-6:
            return None
        if self.type == "int" and value != int(value):
            return None
        return self._point(nearest)

    def decode_value(self, x: float) -> Any:
        """The raw value of the grid point nearest to coordinate `x` (clamped into the bounds).

        Args:
            x: One coordinate.

        Returns:
            The raw value (a grid point; for a continuous log parameter, 12 significant digits so
            that a value read from a spec survives log and exp).

        Raises:
            ValueError: for a non-finite `x`.
        """
        if not math.isfinite(x):
            raise self.error(f"cannot decode the coordinate {x}")
        low, high = self.encoded_bounds
        x = min(max(x, low), high)
        if self.type == "choice":
            return self._point(math.floor(x + 0.5))
        value = math.exp(x) if self.log else x
        if not self.is_discrete:
            value = float(f"{value:.12g}") if self.log else value
            return min(max(value, self.bounds[0]), self.bounds[1])  # type: ignore[index]
        k = (value - self.bounds[0]) / self._step  # type: ignore[index]
        last = (self.num_points or 1) - 1
        candidates = sorted({min(max(math.floor(k), 0), last), min(max(math.ceil(k), 0), last)})
        nearest = min(candidates, key=lambda j: abs(self.encode_value(self._point(j)) - x))
        return self._point(nearest)

    def from_unit(self, u: float) -> float:
        """Map a uniform number to a coordinate, uniform over the grid points (or the bounds).

        Args:
            u: A number in [0, 1).

        Returns:
            The coordinate.
        """
        if self.num_points is not None:
            return self.encode_value(
                self._point(min(math.floor(u * self.num_points), self.num_points - 1))
            )
        low, high = self.encoded_bounds
        return low + u * (high - low)

    # ------------------------------------------------------------------------------ validation
    def error(self, message: str) -> ValueError:
        """A `ValueError` whose message starts with this parameter's name."""
        return ValueError(f"parameter {self.name!r}: {message}")

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"parameter {self.name!r}: name must be a non-empty string")
        if self.type not in PARAMETER_TYPES:
            raise self.error(f"unknown type {self.type!r}; allowed: {list(PARAMETER_TYPES)}")
        for key in ("log", "scale"):
            if not isinstance(getattr(self, key), bool):
                raise self.error(f"{key} must be true or false, got {getattr(self, key)!r}")
        self._check_target()
        if self.type == "choice":
            self._check_choice()
        else:
            self._check_range()
        if self.scale:
            self._check_factors()
        self._check_allowed_by_spec()

    def _check_target(self) -> None:
        if self.scale:
            if self.name not in SCALABLE_FIELDS:
                raise self.error(f"scale: true multiplies one of {list(SCALABLE_FIELDS)}")
            return
        field, dot, index = self.name.partition(".")
        if field not in SEARCHABLE_FIELDS:
            raise self.error(
                f"unknown field {field!r}; allowed: {list(SEARCHABLE_FIELDS)} ('field.i' for one "
                f"element of a tuple field; 'scale: true' to multiply {list(SCALABLE_FIELDS)})"
            )
        length = TUPLE_LENGTHS.get(field)
        if length is None and dot:
            raise self.error(f"field {field!r} is not a tuple; name it without an index")
        if length is not None and not dot:
            hint = " (or scale: true to multiply the base's)" if field in SCALABLE_FIELDS else ""
            raise self.error(f"field {field!r} is a tuple; name one element as '{field}.i'{hint}")
        if length is not None and (not index.isdigit() or int(index) >= length):
            raise self.error(
                f"index {index!r} out of range for {field!r} ({length} entries: 0..{length - 1})"
            )

    def _check_choice(self) -> None:
        if self.bounds is not None or self.step is not None or self.log:
            raise self.error("type 'choice' takes values, not bounds, step or log")
        if not isinstance(self.values, tuple) or not self.values:
            raise self.error("type 'choice' needs a non-empty list of values")
        for position, value in enumerate(self.values):
            if value in self.values[:position]:
                raise self.error(f"value {value!r} is listed twice")

    def _check_range(self) -> None:
        if self.values is not None:
            raise self.error(f"type {self.type!r} takes bounds, not values")
        integer, kind = self.type == "int", "integers" if self.type == "int" else "numbers"
        bounds = self.bounds
        if not isinstance(bounds, tuple) or len(bounds) != 2:
            raise self.error(f"type {self.type!r} needs bounds [low, high], got {bounds!r}")
        if not all(_is_number(bound, integer) for bound in bounds):
            raise self.error(f"bounds {list(bounds)} must be two {kind}")
        low, high = bounds
        if not low < high:
            raise self.error(f"bounds [{low}, {high}] are not increasing")
        if self.log and low <= 0:
            raise self.error(f"log scale needs positive bounds, got [{low}, {high}]")
        if self.step is None:
            return
        if self.log:
            raise self.error("step and log cannot be combined")
        if not _is_number(self.step, integer) or self.step <= 0:
            raise self.error(f"step {self.step!r} must be positive ({kind})")
        count = (high - low) / self.step
        if abs(count - round(count)) > 1e-6:
            raise self.error(f"step {self.step} does not divide bounds [{low}, {high}]")

    def _check_factors(self) -> None:
        if not self.is_discrete:
            raise self.error("a scale parameter needs a grid: give a step or a choice")
        smallest = 0 if self.field == "attn_blocks" else 1e-9
        for value in self.grid() or ():
            if not _is_number(value, integer=False) or value < smallest:
                relation = ">= 0" if smallest == 0 else "> 0"
                raise self.error(f"factor {value!r} for {self.field!r} must be a number {relation}")

    def _check_allowed_by_spec(self) -> None:
        probes = self.values if self.type == "choice" else self.bounds
        for value in probes or ():
            if self.type == "float":
                value = float(value)
            data = _DEFAULT.to_dict()
            self.apply(data, _DEFAULT, value)
            couple_attention(data)
            try:
                ArchSpec.from_dict(data)
            except (ValueError, TypeError) as err:
                raise self.error(f"value {value!r} is not allowed by ArchSpec ({err})") from err
