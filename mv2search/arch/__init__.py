"""Architecture: the spec, the blocks, the generic builder, the published presets, the timm
converter."""

from mv2search.arch.convert import load_timm_state_dict, read_checkpoint
from mv2search.arch.model import MobileViTv2, build_model
from mv2search.arch.presets import PRESETS, get_preset, load_spec, mobilevit_v1, mobilevitv2
from mv2search.arch.spec import ATTN_TYPES, ArchSpec, make_divisible, resolve_widths

__all__ = [
    "ATTN_TYPES",
    "ArchSpec",
    "MobileViTv2",
    "PRESETS",
    "build_model",
    "get_preset",
    "load_spec",
    "load_timm_state_dict",
    "make_divisible",
    "mobilevit_v1",
    "mobilevitv2",
    "read_checkpoint",
    "resolve_widths",
]
