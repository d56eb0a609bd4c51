"""How parameters combine: depth scaling, the attention count/type coupling, and its canonical
encoding (see `mv2search.search.space` for the conventions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mv2search.arch import ArchSpec

if TYPE_CHECKING:
    from mv2search.search._parameter import Parameter

__all__ = [
    "ATTENTION_FIELDS",
    "AttentionStages",
    "check_scales",
    "check_targets",
    "couple_attention",
    "scale_depths",
    "scaled_fields",
]

ATTENTION_FIELDS = ("attn_blocks", "attn_types")
_TOLERANCE = 1e-9  # so that a product meant to be x.5 rounds up despite float error


def scale_depths(base: tuple[int, ...], factor: float, keep_zero: bool) -> tuple[int, ...]:
    """Multiply depths elementwise, rounding half up: max(1, floor(base_i * factor + 1/2)).

    Args:
        base: The base preset's depths, e.g. `ir_depths` (1, 2, 1, 1, 1).
        factor: The multiplier (>= 0).
        keep_zero: Keep 0 where `base` is 0 and give all zeros for `factor == 0` (`attn_blocks`).

    Returns:
        The scaled depths, each >= 1 unless `keep_zero` made it 0.
    """
    if keep_zero and factor == 0:
        return tuple(0 for _ in base)
    return tuple(
        0 if keep_zero and depth == 0 else max(1, math.floor(depth * factor + 0.5 + _TOLERANCE))
        for depth in base
    )


def couple_attention(data: dict[str, Any]) -> None:
    """Make a stage have 0 attention layers exactly when its type is 'none' (in place).

    Args:
        data: An `ArchSpec.to_dict()`-like mapping with `attn_blocks` and `attn_types`.
    """
    blocks, kinds = list(data["attn_blocks"]), list(data["attn_types"])
    for stage, (count, kind) in enumerate(zip(blocks, kinds, strict=True)):
        if count == 0 or kind == "none":
            blocks[stage], kinds[stage] = 0, "none"
    data["attn_blocks"], data["attn_types"] = blocks, kinds


def check_targets(parameters: Sequence[Parameter]) -> None:
    """Check that no two parameters set the same element (a `scale` parameter sets every element).

    Args:
        parameters: The parameters of one space.

    Raises:
        ValueError: naming the later of two clashing parameters, or an attn_blocks scale combined
            with attn_types parameters (the encoding would not be unique).
    """
    seen: dict[tuple[str, int | None], str] = {}
    for parameter in parameters:
        field, index = parameter.field, parameter.index
        clashes = [key for key in seen if key[0] == field and None in (key[1], index)]
        clashes += [key for key in seen if key == (field, index)]
        if parameter.name in seen.values() or clashes:
            other = seen[clashes[0]] if clashes else parameter.name
            raise parameter.error(f"sets {field!r}, which parameter {other!r} already sets")
        seen[(field, index)] = parameter.name
    scales = [p for p in parameters if p.scale and p.field == "attn_blocks"]
    if scales and any(key[0] == "attn_types" for key in seen):
        raise scales[0].error("scaling attn_blocks cannot be combined with attn_types parameters")


def scaled_fields(parameter: Parameter, base: ArchSpec, value: Any) -> tuple[Any, ...]:
    """What a `scale` parameter sets: its field, and for attn_blocks also the coupled types.

    Args:
        parameter: A parameter with `scale: true`.
        base: The space's base spec.
        value: One factor.

    Returns:
        `(depths,)` or `(attn_blocks, attn_types)`, as tuples.
    """
    data = {"attn_blocks": list(base.attn_blocks), "attn_types": list(base.attn_types)}
    parameter.apply(data, base, value)
    couple_attention(data)
    fields = ATTENTION_FIELDS if parameter.field == "attn_blocks" else (parameter.field,)
    return tuple(tuple(data[field]) for field in fields)


def check_scales(parameters: Sequence[Parameter], base: ArchSpec) -> None:
    """Check that distinct factors of a `scale` parameter give distinct depths.

    Args:
        parameters: The parameters of one space.
        base: The space's base spec.

    Raises:
        ValueError: naming the parameter and two factors that give the same depths (the encoding
            would not be unique).
    """
    for parameter in parameters:
        seen: dict[tuple[Any, ...], Any] = {}
        for value in parameter.grid() or () if parameter.scale else ():
            depths = scaled_fields(parameter, base, value)
            if depths in seen:
                raise parameter.error(
                    f"factors {seen[depths]} and {value} give the same {parameter.field} "
                    f"{depths[0]}"
                )
            seen[depths] = value


class AttentionStages:
    """The per-stage layer-count and type coordinates of a space, and their canonical values.

    Works on raw values (one per parameter, as `Parameter.decode_value` returns them). An
    `attn_blocks` scale never meets `attn_types` parameters (`check_targets`), so a stage's count
    comes from its `attn_blocks.i` coordinate or from the base.

    Args:
        parameters: The space's parameters, in coordinate order.
        base: The space's base spec.

    Raises:
        ValueError: for a count coordinate on a stage whose type is fixed to 'none'.
    """

    def __init__(self, parameters: Sequence[Parameter], base: ArchSpec) -> None:
        self.parameters = tuple(parameters)
        self.base = base
        self.dims: list[tuple[int | None, int | None]] = []
        for stage in range(len(base.attn_blocks)):
            found: dict[str, int | None] = dict.fromkeys(ATTENTION_FIELDS)
            for j, parameter in enumerate(self.parameters):
                if parameter.field in ATTENTION_FIELDS and parameter.index == stage:
                    found[parameter.field] = j
            blocks_dim, type_dim = found["attn_blocks"], found["attn_types"]
            if blocks_dim is not None and type_dim is None and base.attn_types[stage] == "none":
                raise self.parameters[blocks_dim].error(
                    f"stage {stage + 3} has type 'none' in the base and no 'attn_types.{stage}' "
                    "parameter, so its layers would never be used"
                )
            self.dims.append((blocks_dim, type_dim))
        # the FFN multiplier sizes the attention layers' FFNs: inactive in a spec without any
        ffn = [j for j, p in enumerate(self.parameters) if p.field == "ffn_multiplier"]
        self.ffn_dim: int | None = ffn[0] if len(ffn) == 1 and ffn[0] is not None else None

    def values(self, raw: Sequence[Any], stage: int) -> tuple[int, str]:
        """Layer count and type of a stage before the coupling."""
        blocks_dim, type_dim = self.dims[stage]
        blocks = raw[blocks_dim] if blocks_dim is not None else self.base.attn_blocks[stage]
        kind = raw[type_dim] if type_dim is not None else self.base.attn_types[stage]
        return blocks, kind

    def has_attention(self, raw: Sequence[Any]) -> bool:
        """Whether any stage has attention layers (a count above 0 and a type other than
        'none')."""
        return any(
            blocks != 0 and kind != "none"
            for blocks, kind in (self.values(raw, stage) for stage in range(len(self.dims)))
        )

    def inactive(self, raw: Sequence[Any]) -> list[int]:
        """Coordinates whose value does not change the decoded spec."""
        out = []
        for stage, (blocks_dim, type_dim) in enumerate(self.dims):
            blocks, kind = self.values(raw, stage)
            if type_dim is not None and blocks == 0:
                out.append(type_dim)
            if blocks_dim is not None and blocks != 0 and kind == "none":
                out.append(blocks_dim)
        if self.ffn_dim is not None and not self.has_attention(raw):
            out.append(self.ffn_dim)
        return out

    def canonicalise(self, raw: list[Any]) -> list[Any]:
        """Set inactive coordinates to their canonical value (in place; returns `raw`).

        A type 'none' with layers > 0 becomes 0 layers when 0 is on the count grid (else the
        lowest count); a stage with 0 layers gets index 0 of its type values; without attention
        in any stage the FFN multiplier (which only sizes attention FFNs) gets its lowest grid
        value, so that specs that build the same network have one signature.
        """
        for stage, (blocks_dim, type_dim) in enumerate(self.dims):
            blocks, kind = self.values(raw, stage)
            if blocks != 0 and kind == "none" and blocks_dim is not None:
                grid = self.parameters[blocks_dim].grid() or ()
                blocks = raw[blocks_dim] = 0 if 0 in grid else grid[0]
            if blocks == 0 and type_dim is not None:
                raw[type_dim] = (self.parameters[type_dim].values or ())[0]
        if self.ffn_dim is not None and not self.has_attention(raw):
            grid = self.parameters[self.ffn_dim].grid()
            if grid:
                raw[self.ffn_dim] = min(grid)
        return raw

    def read(self, spec: ArchSpec, raw: list[Any], space: str) -> None:
        """Fill `raw` with the stage coordinates of `spec` (not yet canonical).

        Args:
            spec: The spec being encoded.
            raw: Raw values, one per parameter, filled in place.
            space: The space's name, for errors.

        Raises:
            ValueError: naming `attn_blocks[i]` or `attn_types[i]` when off the grid.
        """
        for stage, dims in enumerate(self.dims):
            blocks, kind = spec.attn_blocks[stage], spec.attn_types[stage]
            for dim, field, value in zip(dims, ATTENTION_FIELDS, (blocks, kind), strict=True):
                if dim is None:
                    continue
                parameter = self.parameters[dim]
                allowed = parameter.grid() or ()
                if blocks == 0 and value not in allowed:  # no attention: type 'none' or 0 layers
                    value = allowed[0]
                raw[dim] = parameter.grid_value(value)
                if raw[dim] is None:
                    raise ValueError(
                        f"{field}[{stage}]: {value!r} is not in the space {space!r} "
                        f"(parameter {parameter.name!r} allows {parameter.describe()})"
                    )
