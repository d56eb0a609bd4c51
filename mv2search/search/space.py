"""Search spaces as data: YAML parameters over a base preset, with a fixed-length encoding.

A space file (`search_spaces/<name>.yaml`) has the keys `name`, `description`, `base` (a preset
name), `fixed` (field overrides applied to the base) and `parameters` (see `Parameter`). Every
field that no parameter sets keeps the value of the base.

Encoding: `x` has one coordinate per parameter (`d = dim`, fixed for the whole space, method.md 3).
An int/float parameter is its raw value (its natural log with `log: true`), a choice parameter is
the index into its `values`; `bounds` is the `2 x d` box of BoTorch. `decode` rounds each coordinate
to the nearest grid point and clamps it into the bounds, then applies the attention coupling:

- a stage with 0 attention layers gets type 'none'; its type coordinate is present but inactive;
- a stage whose type is 'none' gets 0 layers; its layer-count coordinate is then inactive.

Canonical encoding (so that every spec has exactly one `x`, and `encode(decode(x)) == snap(x)`):
an inactive type coordinate is index 0 of its values; a stage without attention encodes its
layer count as 0 when that is on its grid (else its type as 'none' and its layer count as its
lowest grid value).

`sample` draws scrambled Sobol points spread uniformly over each coordinate's grid points, so a
spec is not drawn uniformly from the `grid_size` distinct specs: a stage without attention
collects the mass of all its (inactive) type values.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from mv2search.arch import ArchSpec, get_preset
from mv2search.search._coupling import (
    ATTENTION_FIELDS,
    AttentionStages,
    check_scales,
    check_targets,
    couple_attention,
    scaled_fields,
)
from mv2search.search._parameter import Parameter

__all__ = ["SearchSpace", "available_spaces", "load_space", "spaces_dir"]

SPACE_KEYS = ("name", "description", "base", "fixed", "parameters")


def spaces_dir() -> Path:
    """The folder of search-space YAML files (inside the package; `search_spaces/` links here)."""
    return Path(__file__).resolve().parents[1] / "search_spaces"


def available_spaces() -> list[str]:
    """Names (file stems) of the search spaces in `spaces_dir()`, sorted."""
    return sorted(path.stem for path in spaces_dir().glob("*.yaml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load a search space by name (from `spaces_dir()`) or from a YAML path.

    Args:
        name_or_path: A space name such as "mv2", or a path to a `.yaml` file.

    Returns:
        The space.

    Raises:
        ValueError: for an unknown name (listing the available ones) or an invalid file.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        return SearchSpace.from_yaml(text)
    path = spaces_dir() / f"{text}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown search space {text!r}; available: {available_spaces()}")
    return SearchSpace.from_yaml(path)


class SearchSpace:
    """A set of architectures: a base spec and the parameters that vary it (see module docstring).

    Args:
        name: The space's name.
        base: The spec that gives every field no parameter sets (the base preset plus `fixed`).
        parameters: The coordinates, in encoding order.
        description: Free text.

    Raises:
        ValueError: for conflicting parameters or a bounds corner that is not a valid `ArchSpec`.
    """

    def __init__(
        self, name: str, base: ArchSpec, parameters: Sequence[Parameter], description: str = ""
    ) -> None:
        self.name = name
        self.base = base
        self.parameters = tuple(parameters)
        self.description = description
        self._stages = AttentionStages(self.parameters, base)
        self._validate()

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Read a space file; every error names the file.

        Args:
            path: The YAML file.

        Returns:
            The space (named after the file stem unless the file has a `name`).

        Raises:
            ValueError: for a missing file, malformed YAML or an invalid space.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: search-space file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: malformed YAML: {err}") from err
        if isinstance(data, dict):
            data = {"name": path.stem, **data}
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<space>") -> SearchSpace:
        """Build a space from the parsed YAML mapping.

        Args:
            data: A mapping with the keys of `SPACE_KEYS` (`base` and `parameters` required).
            source: Where `data` came from, prefixed to every error.

        Returns:
            The space.

        Raises:
            ValueError: for an unknown or missing key, an unknown preset, a bad `fixed` override
                or an invalid parameter.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping with keys {list(SPACE_KEYS)}")
        unknown = sorted(set(data) - set(SPACE_KEYS))
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {list(SPACE_KEYS)}")
        for key in ("base", "parameters"):
            if key not in data:
                raise ValueError(f"{source}: missing key {key!r}")
        try:
            base = _base_spec(data["base"], data.get("fixed") or {})
            entries = data["parameters"]
            if not isinstance(entries, list) or not entries:
                raise ValueError("parameters: expected a non-empty list of parameters")
            parameters = [Parameter.from_dict(entry) for entry in entries]
            overlap = sorted({p.field for p in parameters} & set(data.get("fixed") or {}))
            if overlap:
                raise ValueError(f"fixed: field(s) {overlap} are also set by parameters")
            return cls(
                str(data.get("name", "")), base, parameters, str(data.get("description", ""))
            )
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from err

    # -------------------------------------------------------------------------------- geometry
    @property
    def dim(self) -> int:
        """Number of coordinates `d` (one per parameter)."""
        return len(self.parameters)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in coordinate order."""
        return tuple(p.name for p in self.parameters)

    @property
    def bounds(self) -> torch.Tensor:
        """`2 x d` box of the coordinates (row 0 lower, row 1 upper), float64."""
        return torch.tensor(
            [p.encoded_bounds for p in self.parameters], dtype=torch.float64
        ).T.contiguous()

    @functools.cached_property
    def grid_size(self) -> int | None:
        """Number of distinct specs in the space (None when a parameter is continuous)."""
        if any(p.num_points is None for p in self.parameters):
            return None
        coupled = [p for p in self.parameters if p.field in ATTENTION_FIELDS]
        size = math.prod(p.num_points or 1 for p in self.parameters if p not in coupled)
        outcomes = {
            self._outcome(zip(coupled, values, strict=True))
            for values in itertools.product(*(p.grid() or () for p in coupled))
        }
        return size * len(outcomes)

    def __repr__(self) -> str:
        return (
            f"SearchSpace(name={self.name!r}, base={self.base.name!r}, dim={self.dim}, "
            f"grid_size={self.grid_size})"
        )

    # ---------------------------------------------------------------------------------- decode
    def decode(self, x: torch.Tensor) -> ArchSpec | list[ArchSpec]:
        """Specs of coordinates `x`, each rounded to the nearest grid point and clamped.

        Args:
            x: `d` or `n x d` coordinates.

        Returns:
            One spec for `d`, a list of `n` specs for `n x d`.

        Raises:
            ValueError: for a wrong shape or a non-finite coordinate.
        """
        rows, single = self._rows(x)
        specs = [self._build(self._stages.canonicalise(self._round(row))) for row in rows]
        return specs[0] if single else specs

    def snap(self, x: torch.Tensor) -> torch.Tensor:
        """Round `x` to the grid and set inactive coordinates to their canonical value.

        Args:
            x: `d` or `n x d` coordinates.

        Returns:
            Float64 tensor of the shape of `x`, equal to `encode(decode(x))`.
        """
        rows, single = self._rows(x)
        out = [self._encode_raw(self._stages.canonicalise(self._round(row))) for row in rows]
        if single:
            return out[0]
        return torch.stack(out) if out else torch.empty(0, self.dim, dtype=torch.float64)

    def is_active(self, x: torch.Tensor) -> torch.Tensor:
        """Which coordinates of `x` change the decoded spec (see the module docstring).

        Args:
            x: `d` or `n x d` coordinates.

        Returns:
            Bool tensor of the shape of `x`.
        """
        rows, single = self._rows(x)
        out = torch.ones(len(rows), self.dim, dtype=torch.bool)
        for i, row in enumerate(rows):
            out[i, self._stages.inactive(self._round(row))] = False
        return out[0] if single else out

    def sample_encoded(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Scrambled-Sobol points spread uniformly over each coordinate's grid points, snapped.

        Args:
            n: Number of points.
            seed: Sobol scrambling seed; the same seed gives the same points.

        Returns:
            `n x d` float64 coordinates on the grid.
        """
        if n == 0:
            return self.snap(torch.empty(0, self.dim))
        unit = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=seed).draw(
            n, dtype=torch.float64
        )
        x = torch.tensor(
            [
                [p.from_unit(u) for p, u in zip(self.parameters, row, strict=True)]
                for row in unit.tolist()
            ],
            dtype=torch.float64,
        )
        return self.snap(x)

    def sample(self, n: int, seed: int | None = None) -> list[ArchSpec]:
        """`n` specs decoded from `sample_encoded(n, seed)` (duplicates possible).

        Args:
            n: Number of specs.
            seed: The same seed gives the same specs.

        Returns:
            The specs.
        """
        x = self.sample_encoded(n, seed)
        return list(self.decode(x)) if n else []  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------------- encode
    def encode(self, spec: ArchSpec) -> torch.Tensor:
        """The canonical coordinates of `spec`; `decode(encode(spec)) == spec`.

        Args:
            spec: A spec inside the space.

        Returns:
            `d` float64 coordinates.

        Raises:
            ValueError: naming the first field of `spec` that the space cannot reach.
        """
        self._check_unsearched(spec)
        raw: list[Any] = [None] * self.dim
        for j, parameter in enumerate(self.parameters):
            if parameter.scale or parameter.field not in ATTENTION_FIELDS:
                raw[j] = self._read(parameter, spec)
        self._stages.read(spec, raw, self.name)
        raw = self._stages.canonicalise(raw)
        built = self._build(raw)
        for field in dataclasses.fields(ArchSpec):
            if field.compare and getattr(built, field.name) != getattr(spec, field.name):
                value, nearest = getattr(spec, field.name), getattr(built, field.name)
                raise ValueError(
                    f"{field.name}: {value!r} is not in the space {self.name!r} "
                    f"(nearest: {nearest!r})"
                )
        return self._encode_raw(raw)

    def contains(self, spec: ArchSpec) -> bool:
        """Whether `encode(spec)` succeeds."""
        try:
            self.encode(spec)
        except ValueError:
            return False
        return True

    # -------------------------------------------------------------------------------- internals
    def _rows(self, x: Any) -> tuple[list[list[float]], bool]:
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() not in (1, 2) or x.shape[-1] != self.dim:
            raise ValueError(
                f"space {self.name!r}: expected coordinates of shape (d,) or (n, d) with "
                f"d = {self.dim}, got {tuple(x.shape)}"
            )
        return (x.unsqueeze(0) if x.dim() == 1 else x).tolist(), x.dim() == 1

    def _round(self, row: Sequence[float]) -> list[Any]:
        return [p.decode_value(v) for p, v in zip(self.parameters, row, strict=True)]

    def _encode_raw(self, raw: Sequence[Any]) -> torch.Tensor:
        values = [p.encode_value(v) for p, v in zip(self.parameters, raw, strict=True)]
        return torch.tensor(values, dtype=torch.float64)

    def _build(self, raw: Sequence[Any]) -> ArchSpec:
        data = self.base.to_dict()
        data["name"] = ""
        for parameter, value in zip(self.parameters, raw, strict=True):
            parameter.apply(data, self.base, value)
        couple_attention(data)
        return ArchSpec.from_dict(data)

    def _outcome(self, items: Iterable[tuple[Parameter, Any]]) -> tuple[Any, ...]:
        """The attention fields of the base with `items` applied and coupled."""
        data = self.base.to_dict()
        for parameter, value in items:
            parameter.apply(data, self.base, value)
        couple_attention(data)
        return tuple(tuple(data[field]) for field in ATTENTION_FIELDS)

    def _read(self, parameter: Parameter, spec: ArchSpec) -> Any:
        """Raw value of a parameter outside the per-stage attention coupling, read from `spec`."""
        value, label = getattr(spec, parameter.field), parameter.field
        if parameter.scale:
            fields = ATTENTION_FIELDS if label == "attn_blocks" else (label,)
            target = tuple(getattr(spec, name) for name in fields)
            for candidate in parameter.grid() or ():
                if scaled_fields(parameter, self.base, candidate) == target:
                    return candidate
            allowed = f"scales the base {getattr(self.base, label)} by {parameter.grid()}"
        else:
            if parameter.index is not None:
                value, label = value[parameter.index], f"{label}[{parameter.index}]"
            found = parameter.grid_value(value)
            if found is not None:
                return found
            allowed = f"allows {parameter.describe()}"
        raise ValueError(
            f"{label}: {value!r} is not in the space {self.name!r} (parameter {parameter.name!r} "
            f"{allowed})"
        )

    def _check_unsearched(self, spec: ArchSpec) -> None:
        """Fields that no parameter sets must equal the base."""
        searched = {p.field for p in self.parameters}
        if searched & set(ATTENTION_FIELDS):
            searched |= set(ATTENTION_FIELDS)
        for field in dataclasses.fields(ArchSpec):
            value, fixed = getattr(spec, field.name), getattr(self.base, field.name)
            if field.compare and field.name not in searched and value != fixed:
                raise ValueError(
                    f"{field.name}: {value!r} is not in the space {self.name!r}, which fixes it "
                    f"to {fixed!r}"
                )

    # ------------------------------------------------------------------------------- validation
    def _validate(self) -> None:
        if not self.parameters:
            raise ValueError(f"space {self.name!r}: no parameters")
        check_targets(self.parameters)
        check_scales(self.parameters, self.base)
        for label, corner in zip(("lower", "upper"), self.bounds, strict=True):
            try:
                self.decode(corner)
            except ValueError as err:
                raise ValueError(
                    f"space {self.name!r}: the {label} corner of the bounds is not a valid "
                    f"ArchSpec: {err}"
                ) from err


def _base_spec(preset: Any, fixed: Any) -> ArchSpec:
    """The base preset with the `fixed` overrides applied."""
    if not isinstance(preset, str):
        raise ValueError(f"base: expected a preset name, got {preset!r}")
    base = get_preset(preset)
    if not isinstance(fixed, dict):
        raise ValueError(f"fixed: expected a mapping of ArchSpec fields, got {fixed!r}")
    try:
        return ArchSpec.from_dict({**base.to_dict(), **fixed})
    except (ValueError, TypeError) as err:
        raise ValueError(f"fixed: {err}") from err
