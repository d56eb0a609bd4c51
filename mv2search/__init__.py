"""mv2search: hardware-aware architecture search and scaling studies of MobileViTv2-family
models."""

from mv2search.arch import PRESETS, ArchSpec, build_model, get_preset

__all__ = ["ArchSpec", "PRESETS", "build_model", "get_preset"]
__version__ = "0.1.0"
