"""`ArchSpec`: one frozen dataclass that fully describes a MobileViTv2-family network.

The spec holds the global factors a researcher varies (width multiplier, resolution, depths,
attention type per stage); `resolve_widths` turns them into concrete channel counts with ONE
rounding rule.

Channel-rounding rule (fixed; it is part of what a spec means). We use the cvnets reference
definition (architecture.md 1.2), for every width multiplier, published or not:

- `make_divisible(v, divisor)`: round `v` to the nearest multiple of `divisor` (at least
  `divisor`); if that lost more than 10 %, add one divisor.
- stem = make_divisible(clamp(32 * alpha, 16, 64), 8); stage 1 = make_divisible(64 * alpha, 16);
  stages 2-5 = make_divisible((128, 256, 384, 512) * alpha, 8);
  attention dims of stages 3-5 = make_divisible((128, 192, 256) * alpha, 8).
- FFN hidden width = max(16, floor(attn_dim * ffn_multiplier / 16) * 16);
  inverted-residual hidden width = make_divisible(round(in_channels * expand_ratio), 8).

For the seven published alphas this gives exactly the widths of cvnets and timm. Where timm differs
(e.g. alpha = 0.6: timm's stem is 19 channels), we keep cvnets' choice, so that every width is a
multiple of 8. A spec may instead give explicit `channels` and `attn_dims` (the MobileViTv1 presets
do).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

ATTN_TYPES = ("separable", "mha", "additive", "none")
BLOCK_STYLES = ("v2", "v1")
NUM_IR_STAGES = 5
NUM_ATTN_STAGES = 3  # stages 3, 4 and 5 may carry a MobileViT block
STAGE_STRIDES = (1, 2, 2, 2, 2)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024

__all__ = [
    "ATTN_TYPES",
    "BLOCK_STYLES",
    "check_int",
    "ArchSpec",
    "Widths",
    "make_divisible",
    "resolve_widths",
    "ffn_hidden",
    "ir_hidden",
]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to a multiple of `divisor` the way cvnets and timm do (round-limit 0.9).

    Args:
        value: The raw channel count.
        divisor: The multiple to round to.
        min_value: Smallest allowed result; defaults to `divisor`.

    Returns:
        The rounded channel count.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def ffn_hidden(attn_dim: int, ffn_multiplier: float) -> int:
    """FFN hidden width of an attention layer: floor(d * m / 16) * 16, at least 16 (cvnets)."""
    return max(16, int(attn_dim * ffn_multiplier) // 16 * 16)


def ir_hidden(in_channels: int, expand_ratio: float) -> int:
    """Hidden width of an inverted-residual block: make_divisible(round(in * e), 8) (cvnets)."""
    return make_divisible(round(in_channels * expand_ratio), 8)


@dataclass(frozen=True)
class ArchSpec:
    """A complete description of one MobileViTv2-family network (see the module docstring for
    widths).

    Stage layout: a stem (3x3 conv, stride 2), five stages of inverted-residual (MV2) blocks whose
    first block has stride (1, 2, 2, 2, 2), a MobileViT block after the MV2 blocks of stages 3-5
    unless that stage's attention type is "none", an optional 1x1 expansion conv, global average
    pooling and a linear classifier.
    """

    # Width multiplier alpha of the MobileViTv2 family (1.0 = mobilevitv2_100).
    width_multiplier: float = 1.0
    # Input resolution in pixels (square images).
    image_size: int = 256
    # Number of inverted-residual blocks in stages 1-5 (the first of each stage carries the stride).
    ir_depths: tuple[int, ...] = (1, 2, 1, 1, 1)
    # Number of attention (transformer) layers in the MobileViT block of stages 3-5.
    attn_blocks: tuple[int, ...] = (2, 4, 3)
    # Attention type per stage 3-5: separable (v2), mha (v1), additive (SwiftFormer) or none.
    attn_types: tuple[str, ...] = ("separable", "separable", "separable")
    # Side of the square patch that the MobileViT block unfolds into tokens.
    patch_size: int = 2
    # FFN hidden width as a multiple of the attention dim.
    ffn_multiplier: float = 2.0
    # Expansion ratio of the inverted-residual (MV2) blocks.
    expand_ratio: float = 2.0
    # Number of output classes of the linear head.
    num_classes: int = 1000
    # Heads of multi-head attention (only used by "mha").
    num_heads: int = 4
    # MobileViT block style: "v2" (depthwise local conv, no fusion) or "v1" (full conv, concat
    # fusion).
    block_style: str = "v2"
    # Channels of the 1x1 conv before pooling (0 = none, as in v2; MobileViTv1 uses it).
    head_conv_channels: int = 0
    # Explicit widths (stem, stage 1..5); None = derived from width_multiplier.
    channels: tuple[int, ...] | None = None
    # Explicit attention dims of stages 3-5; None = derived from width_multiplier.
    attn_dims: tuple[int, ...] | None = None
    # Free-form label (e.g. the preset name); not part of the architecture or its signature.
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("ir_depths", "attn_blocks", "attn_types", "channels", "attn_dims"):
            value = getattr(self, name)
            if isinstance(value, list):  # YAML/JSON give lists; the frozen spec keeps tuples
                object.__setattr__(self, name, tuple(value))
        self.validate()

    # ----------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check every field.

        Raises:
            ValueError: naming the field, the value and what is allowed.
        """
        _check_number("width_multiplier", self.width_multiplier, 0.125, 4.0)
        check_int("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        _check_int_tuple("ir_depths", self.ir_depths, NUM_IR_STAGES, 1, 16)
        _check_int_tuple("attn_blocks", self.attn_blocks, NUM_ATTN_STAGES, 0, 16)
        _check_length("attn_types", self.attn_types, NUM_ATTN_STAGES)
        for stage, (kind, blocks) in enumerate(
            zip(self.attn_types, self.attn_blocks, strict=True), start=3
        ):
            if kind not in ATTN_TYPES:
                raise ValueError(
                    f"attn_types: stage {stage} has {kind!r}; allowed: {list(ATTN_TYPES)}"
                )
            if (kind == "none") != (blocks == 0):
                raise ValueError(
                    f"attn_types/attn_blocks: stage {stage} has type {kind!r} with {blocks} "
                    "attention layers; a stage has 0 layers exactly when its type is 'none'"
                )
        check_int("patch_size", self.patch_size, 1, 8)
        _check_number("ffn_multiplier", self.ffn_multiplier, 0.25, 8.0)
        _check_number("expand_ratio", self.expand_ratio, 1.0, 8.0)
        check_int("num_classes", self.num_classes, 1, 100_000)
        check_int("num_heads", self.num_heads, 1, 64)
        if self.block_style not in BLOCK_STYLES:
            raise ValueError(f"block_style: {self.block_style!r}; allowed: {list(BLOCK_STYLES)}")
        check_int("head_conv_channels", self.head_conv_channels, 0, 8192)
        if self.channels is not None:
            _check_int_tuple("channels", self.channels, 1 + NUM_IR_STAGES, 1, 8192)
            if self.width_multiplier != 1.0:
                raise ValueError(
                    f"width_multiplier: {self.width_multiplier} with explicit channels; "
                    "explicit channels require width_multiplier = 1.0"
                )
        if self.attn_dims is not None:
            _check_int_tuple("attn_dims", self.attn_dims, NUM_ATTN_STAGES, 1, 8192)
        for stage, (kind, dim) in enumerate(
            zip(self.attn_types, resolve_widths(self).attn_dims, strict=True), 3
        ):
            if kind == "mha" and dim % self.num_heads:
                raise ValueError(
                    f"num_heads: {self.num_heads} does not divide the stage-{stage} attention dim "
                    f"{dim}; "
                    "allowed: a divisor of every mha stage's attention dim"
                )

    # ------------------------------------------------------------------------------- round trips
    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (lists for tuples) that `from_dict` turns back into an equal spec."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Build a spec from a dict; unknown keys are an error naming them and listing the fields.

        Args:
            data: Field names to values; missing fields take their defaults.

        Returns:
            The validated spec.

        Raises:
            ValueError: for an unknown key or an invalid value.
        """
        if not isinstance(data, dict):
            raise ValueError(f"ArchSpec: expected a mapping of fields, got {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"ArchSpec: unknown field(s) {unknown}; allowed: {known}")
        return cls(**data)

    def to_json(self) -> str:
        """Serialise to JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        """Serialise to YAML, one field per line, in declaration order."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> ArchSpec:
        """Read a spec from a YAML file path or a YAML string.

        Raises:
            ValueError: for malformed YAML (naming the file) or an invalid field.
        """
        import yaml

        source = "<string>"
        text = str(path_or_text)
        if isinstance(path_or_text, Path) or (
            len(text) < 4096 and text.endswith((".yaml", ".yml"))
        ):
            path = Path(path_or_text)
            if not path.is_file():
                raise ValueError(f"{path}: spec file not found")
            source, text = str(path), path.read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"{source}: malformed YAML: {err}") from err
        if isinstance(data, dict) and isinstance(data.get("arch"), dict):  # a train.py config
            data = data["arch"]
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{source}: {err}") from err

    @property
    def signature(self) -> str:
        """Stable 16-hex-digit hash of the architecture (the sorted-key JSON, `name` excluded)."""
        data = self.to_dict()
        data.pop("name")
        data["width_multiplier"] = float(data["width_multiplier"])
        data["ffn_multiplier"] = float(data["ffn_multiplier"])
        data["expand_ratio"] = float(data["expand_ratio"])
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> ArchSpec:
        """Return a validated copy with `changes` applied (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)


class Widths(NamedTuple):
    """Concrete channel counts of a spec."""

    stem: int  # stem output channels
    stages: tuple[int, ...]  # output channels of stages 1-5
    attn_dims: tuple[int, ...]  # attention (token) dim of stages 3-5


def resolve_widths(spec: ArchSpec) -> Widths:
    """Apply the channel-rounding rule of the module docstring.

    Args:
        spec: The architecture.

    Returns:
        The stem, stage and attention widths.
    """
    alpha = spec.width_multiplier
    if spec.channels is not None:
        stem, stages = spec.channels[0], tuple(spec.channels[1:])
    else:
        stem = make_divisible(min(max(32 * alpha, 16), 64), 8, min_value=16)
        stages = (make_divisible(64 * alpha, 16),) + tuple(
            make_divisible(base * alpha, 8) for base in (128, 256, 384, 512)
        )
    if spec.attn_dims is not None:
        dims = tuple(spec.attn_dims)
    else:
        dims = tuple(make_divisible(base * alpha, 8) for base in (128, 192, 256))
    return Widths(stem, stages, dims)


def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Check that `value` is an int (not a bool) in [low, high] (no upper end when `high` is None).

    Raises:
        ValueError: naming `name`, the value and the allowed range.
    """
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}: {value!r} is not allowed; expected an integer {allowed}")


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise ValueError(f"{name}: {value!r} is not allowed; expected a number in [{low}, {high}]")


def _check_length(name: str, value: Any, length: int) -> None:
    if not isinstance(value, tuple | list) or len(value) != length:
        raise ValueError(f"{name}: {value!r} is not allowed; expected a list of {length} entries")


def _check_int_tuple(name: str, value: Any, length: int, low: int, high: int) -> None:
    _check_length(name, value, length)
    for i, item in enumerate(value):
        check_int(f"{name}[{i}]", item, low, high)
