"""The published models as data: MobileViTv2 (alpha 0.5 ... 2.0) and MobileViTv1 (XXS, XS, S).

Parameter counts equal timm 1.0.31 exactly (architecture.md 2.1 and 2.4);
`tests/arch/test_presets.py` checks them and the fvcore MACs.
"""

from __future__ import annotations

from pathlib import Path

from mv2search.arch.spec import ArchSpec

__all__ = ["PRESETS", "mobilevitv2", "mobilevit_v1", "get_preset", "load_spec"]


def mobilevitv2(width_multiplier: float, **changes: object) -> ArchSpec:
    """MobileViTv2 at width `width_multiplier` (widths by the cvnets rule of `mv2search.arch.spec`).

    Args:
        width_multiplier: alpha; the published values are 0.5, 0.75, ..., 2.0.
        **changes: Any other `ArchSpec` field to override (e.g. `image_size=160`).

    Returns:
        The spec.
    """
    name = f"mobilevitv2_{round(width_multiplier * 100):03d}"
    return ArchSpec(width_multiplier=width_multiplier, name=name, **changes)  # type: ignore[arg-type]


def mobilevit_v1(variant: str) -> ArchSpec:
    """MobileViTv1 XXS, XS or S (architecture.md 3.2): mha attention, v1 fusion blocks, 1x1
    expansion."""
    table = {
        # stem + stages 1..5, attention dims, MV2 expansion, expansion-conv channels
        "xxs": ((16, 16, 24, 48, 64, 80), (64, 80, 96), 2.0, 320),
        "xs": ((16, 32, 48, 64, 80, 96), (96, 120, 144), 4.0, 384),
        "s": ((16, 32, 64, 96, 128, 160), (144, 192, 240), 4.0, 640),
    }
    channels, dims, expand, head_conv = table[variant]
    return ArchSpec(
        ir_depths=(1, 3, 1, 1, 1),
        attn_blocks=(2, 4, 3),
        attn_types=("mha", "mha", "mha"),
        expand_ratio=expand,
        block_style="v1",
        head_conv_channels=head_conv,
        channels=channels,
        attn_dims=dims,
        name=f"mobilevit_{variant}",
    )


PRESETS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [mobilevitv2(alpha) for alpha in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)]
    + [mobilevit_v1(variant) for variant in ("xxs", "xs", "s")]
}


def get_preset(name: str) -> ArchSpec:
    """Look up a preset by name.

    Raises:
        ValueError: for an unknown name, listing the available ones.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name]


def load_spec(source: str) -> ArchSpec:
    """A spec from a preset name or a spec YAML/JSON file path.

    Args:
        source: `mobilevitv2_050`, ..., or `path/to/spec.yaml`.

    Returns:
        The spec.

    Raises:
        ValueError: for an unknown preset or a missing/malformed file, naming it.
    """
    if source in PRESETS:
        return PRESETS[source]
    if source.endswith((".yaml", ".yml", ".json")) or Path(source).exists():
        path = Path(source)
        if path.suffix == ".json":
            if not path.is_file():
                raise ValueError(f"{path}: spec file not found")
            return ArchSpec.from_json(path.read_text())
        return ArchSpec.from_yaml(path)
    return get_preset(source)  # raises, listing the presets
