"""`SupernetBounds`: what one supernet holds, and the check that a spec lies inside it.

A supernet is sized by the largest value of every elastic field over the specs it must cover:

- width: the stem, stage and attention widths of `resolve_widths` (elementwise maxima), so any
  spec whose resolved widths are no larger is covered, whatever its `width_multiplier`;
- depth: `ir_depths` and `attn_blocks` per stage; attention type: the set each stage allows
  ('none', no MobileViT block, is always allowed);
- `ffn_multiplier`, `expand_ratio` and `head_conv_channels` (a head conv, if any, is sliced too);
- resolution is not bounded: the supernet runs any input size.

`patch_size`, `num_heads`, `num_classes` and `block_style` are fixed: every covered spec has the
supernet's value.

`from_space(space)` takes the bounds of a search space (`mv2search.search.space.SearchSpace`, read
through its public interface only, so that this package does not import `search`): it decodes the
two corners of the space's box and every grid value of each coordinate with the others at a
corner. That reaches each field's extremes when, as in every space file of this project, a field
is set by one parameter whose value grows with its coordinate; a spec outside the bounds fails
loudly in `check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from mv2search.arch.spec import (
    NUM_ATTN_STAGES,
    NUM_IR_STAGES,
    ArchSpec,
    ffn_hidden,
    ir_hidden,
    resolve_widths,
)

__all__ = ["ATTENTION_TYPES", "FIXED_FIELDS", "SpaceLike", "SupernetBounds"]

ATTENTION_TYPES = ("separable", "mha", "additive")
FIXED_FIELDS = ("patch_size", "num_heads", "num_classes", "block_style")


class SpaceLike(Protocol):
    """The part of `SearchSpace` that `from_space` reads."""

    parameters: Sequence[Any]  # each with `grid()` and `encode_value(value)`

    @property
    def bounds(self) -> torch.Tensor: ...  # `2 x d`

    def decode(self, x: torch.Tensor) -> ArchSpec | list[ArchSpec]: ...


@dataclass(frozen=True)
class SupernetBounds:
    """The largest subnet of a supernet and the fields it fixes (see the module docstring)."""

    # Output channels of the stem in the largest subnet.
    stem_channels: int
    # Output channels of stages 1-5 in the largest subnet.
    stage_channels: tuple[int, ...]
    # Attention dim of stages 3-5 in the largest subnet (0 where a stage never has attention).
    attn_dims: tuple[int, ...]
    # Most inverted-residual blocks of stages 1-5.
    ir_depths: tuple[int, ...]
    # Most attention layers of stages 3-5 (0: the stage never has attention).
    attn_blocks: tuple[int, ...]
    # Attention types each stage 3-5 may take, besides 'none' (empty where attn_blocks is 0).
    attn_types: tuple[tuple[str, ...], ...]
    # Largest FFN hidden width as a multiple of the attention dim.
    ffn_multiplier: float
    # Largest expansion ratio of the inverted-residual blocks.
    expand_ratio: float
    # Largest 1x1 conv before pooling (0: no covered spec has one).
    head_conv_channels: int
    # Fixed: the patch side of every MobileViT block.
    patch_size: int
    # Fixed: heads of mha.
    num_heads: int
    # Fixed: classes of the head.
    num_classes: int
    # Fixed: MobileViT block style, "v2" or "v1".
    block_style: str

    def __post_init__(self) -> None:
        for name in ("stage_channels", "attn_dims", "ir_depths", "attn_blocks", "attn_types"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "attn_types", tuple(tuple(kinds) for kinds in self.attn_types))
        self._validate()

    def _validate(self) -> None:
        lengths = {"stage_channels": NUM_IR_STAGES, "ir_depths": NUM_IR_STAGES}
        lengths |= {name: NUM_ATTN_STAGES for name in ("attn_dims", "attn_blocks", "attn_types")}
        for name, length in lengths.items():
            if len(getattr(self, name)) != length:
                raise ValueError(f"{name}: {getattr(self, name)!r}; expected {length} entries")
        for stage, (kinds, blocks, dim) in enumerate(
            zip(self.attn_types, self.attn_blocks, self.attn_dims, strict=True), start=3
        ):
            unknown = [kind for kind in kinds if kind not in ATTENTION_TYPES]
            if unknown:
                raise ValueError(
                    f"attn_types: stage {stage} lists {unknown}; allowed: {list(ATTENTION_TYPES)}"
                )
            if (blocks == 0) != (not kinds) or (blocks > 0) != (dim > 0):
                raise ValueError(
                    f"attn_blocks: stage {stage} has {blocks} layers, types {list(kinds)} and dim "
                    f"{dim}; a stage has layers exactly when it has types and a dim"
                )

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def covering(cls, specs: Iterable[ArchSpec]) -> SupernetBounds:
        """The smallest bounds that cover every spec of `specs`.

        Args:
            specs: One or more specs that agree on the fixed fields.

        Returns:
            The bounds.

        Raises:
            ValueError: for no specs, or naming a fixed field on which they disagree.
        """
        specs = list(specs)
        _check_agreement(specs)
        widths = [resolve_widths(spec) for spec in specs]
        # per attention stage: (type, dim) of every spec with attention there
        attention = [
            [(s.attn_types[i], w.attn_dims[i]) for s, w in zip(specs, widths, strict=True)]
            for i in range(NUM_ATTN_STAGES)
        ]
        attention = [[(kind, dim) for kind, dim in stage if kind != "none"] for stage in attention]
        return cls(
            stem_channels=max(w.stem for w in widths),
            stage_channels=_column_max(w.stages for w in widths),
            attn_dims=tuple(max((dim for _, dim in stage), default=0) for stage in attention),
            ir_depths=_column_max(spec.ir_depths for spec in specs),
            attn_blocks=_column_max(spec.attn_blocks for spec in specs),
            attn_types=tuple(
                tuple(k for k in ATTENTION_TYPES if any(kind == k for kind, _ in stage))
                for stage in attention
            ),
            ffn_multiplier=max(spec.ffn_multiplier for spec in specs),
            expand_ratio=max(spec.expand_ratio for spec in specs),
            head_conv_channels=max(spec.head_conv_channels for spec in specs),
            **{name: getattr(specs[0], name) for name in FIXED_FIELDS},
        )

    @classmethod
    def from_space(cls, space: SpaceLike) -> SupernetBounds:
        """The bounds of a search space (its largest subnet; see the module docstring).

        Args:
            space: A `mv2search.search.space.SearchSpace` (e.g. `load_space("mv2")`).

        Returns:
            The bounds covering every spec the space can decode to.
        """
        box = space.bounds.to(torch.float64)
        specs = []
        for corner in box:
            for j, parameter in enumerate(space.parameters):
                grid = parameter.grid()
                values = box[:, j].tolist() if grid is None else map(parameter.encode_value, grid)
                for value in values:
                    x = corner.clone()
                    x[j] = value
                    specs.append(space.decode(x))
        return cls.covering(specs)

    # -------------------------------------------------------------------------------- derived
    def ir_hidden(self, stage: int, block: int) -> int:
        """Largest hidden width of inverted-residual block `block` of stage `stage` (0-based)."""
        if block > 0:
            in_channels = self.stage_channels[stage]
        else:
            in_channels = self.stem_channels if stage == 0 else self.stage_channels[stage - 1]
        return ir_hidden(in_channels, self.expand_ratio)

    def ffn_hidden(self, attn_stage: int) -> int:
        """Largest FFN hidden width of attention stage `attn_stage` (0-based: stage 3 is 0)."""
        return ffn_hidden(self.attn_dims[attn_stage], self.ffn_multiplier)

    def largest_spec(self, image_size: int = 256) -> ArchSpec:
        """The largest subnet as a spec (explicit widths; each stage's first allowed type).

        Args:
            image_size: The spec's `image_size` (the supernet runs any).

        Returns:
            A spec that `check` accepts.
        """
        return ArchSpec(
            width_multiplier=1.0,
            image_size=image_size,
            ir_depths=self.ir_depths,
            attn_blocks=self.attn_blocks,
            attn_types=tuple(kinds[0] if kinds else "none" for kinds in self.attn_types),
            patch_size=self.patch_size,
            ffn_multiplier=self.ffn_multiplier,
            expand_ratio=self.expand_ratio,
            num_classes=self.num_classes,
            num_heads=self.num_heads,
            block_style=self.block_style,
            head_conv_channels=self.head_conv_channels,
            channels=(self.stem_channels, *self.stage_channels),
            attn_dims=tuple(dim or 8 for dim in self.attn_dims),
            name="supernet_largest",
        )

    # ---------------------------------------------------------------------------------- check
    def check(self, spec: ArchSpec) -> None:
        """Check that the supernet covers `spec`.

        Args:
            spec: The subnet to select.

        Raises:
            ValueError: naming the first field of `spec` outside these bounds.
        """
        for name in FIXED_FIELDS:
            if getattr(spec, name) != getattr(self, name):
                raise ValueError(
                    f"{name}: {getattr(spec, name)!r} is outside the supernet, which fixes it to "
                    f"{getattr(self, name)!r}"
                )
        self._check_head_conv(spec.head_conv_channels)
        self._check_widths(spec)
        for name in ("expand_ratio", "ffn_multiplier"):
            if getattr(spec, name) > getattr(self, name):
                raise ValueError(
                    f"{name}: {getattr(spec, name)!r} is outside the supernet (at most "
                    f"{getattr(self, name)!r})"
                )
        for i, (depth, most) in enumerate(zip(spec.ir_depths, self.ir_depths, strict=True)):
            if depth > most:
                raise ValueError(
                    f"ir_depths[{i}]: {depth} is outside the supernet (stage {i + 1} has at most "
                    f"{most} blocks)"
                )
        self._check_attention(spec)

    def _check_head_conv(self, channels: int) -> None:
        if (channels > 0) != (self.head_conv_channels > 0) or channels > self.head_conv_channels:
            allowed = f"in [1, {self.head_conv_channels}]" if self.head_conv_channels else "0"
            raise ValueError(
                f"head_conv_channels: {channels} is outside the supernet (allowed: {allowed})"
            )

    def _check_widths(self, spec: ArchSpec) -> None:
        widths = resolve_widths(spec)
        field = "channels" if spec.channels is not None else "width_multiplier"
        value = spec.channels if spec.channels is not None else spec.width_multiplier
        named = [("stem", widths.stem, self.stem_channels)] + [
            (f"stage {i + 1}", w, most)
            for i, (w, most) in enumerate(zip(widths.stages, self.stage_channels, strict=True))
        ]
        attn_field = "attn_dims" if spec.attn_dims is not None else "width_multiplier"
        attn_value = spec.attn_dims if spec.attn_dims is not None else spec.width_multiplier
        for name, width, most in named:
            if width > most:
                raise ValueError(
                    f"{field}: {value!r} gives the {name} {width} channels, outside the supernet "
                    f"(at most {most})"
                )
        for i, (dim, most) in enumerate(zip(widths.attn_dims, self.attn_dims, strict=True)):
            if spec.attn_blocks[i] and dim > most:
                raise ValueError(
                    f"{attn_field}: {attn_value!r} gives stage {i + 3} the attention dim {dim}, "
                    f"outside the supernet (at most {most})"
                )

    def _check_attention(self, spec: ArchSpec) -> None:
        for i, (kind, blocks) in enumerate(zip(spec.attn_types, spec.attn_blocks, strict=True)):
            if kind == "none":
                continue
            if kind not in self.attn_types[i]:
                allowed = [*self.attn_types[i], "none"]
                raise ValueError(
                    f"attn_types[{i}]: stage {i + 3} has {kind!r}, outside the supernet "
                    f"(allowed: {allowed})"
                )
            if blocks > self.attn_blocks[i]:
                raise ValueError(
                    f"attn_blocks[{i}]: {blocks} is outside the supernet (stage {i + 3} has at "
                    f"most {self.attn_blocks[i]} attention layers)"
                )


def _column_max(rows: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    """Elementwise maximum of equally long tuples."""
    return tuple(max(column) for column in zip(*rows, strict=True))


def _check_agreement(specs: Sequence[ArchSpec]) -> None:
    """Raise a `ValueError` naming the first fixed field on which `specs` disagree."""
    if not specs:
        raise ValueError("covering: no specs given")
    for name in FIXED_FIELDS:
        values = {getattr(spec, name) for spec in specs}
        if len(values) > 1:
            raise ValueError(f"{name}: the specs disagree ({sorted(values)}); a supernet fixes it")
    if len({spec.head_conv_channels > 0 for spec in specs}) > 1:
        raise ValueError(
            "head_conv_channels: some specs have a head conv and some have none; a supernet "
            "has one for all or for none"
        )
