"""Test helpers shipped with the package: random valid specs, and the timm reference import."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import random
import sys
import types

from mv2search.arch.spec import ATTN_TYPES, ArchSpec

__all__ = ["random_spec", "import_timm"]


def random_spec(seed: int, *, max_image_size: int = 320, num_classes: int = 10) -> ArchSpec:
    """A random valid spec covering every attention type, both block styles and odd resolutions.

    Args:
        seed: Seed of the generator; the same seed gives the same spec.
        max_image_size: Largest input side drawn (the smallest is 64).
        num_classes: Classes of the head.

    Returns:
        A validated `ArchSpec`.
    """
    rng = random.Random(seed)
    attn_types = tuple(rng.choice(ATTN_TYPES) for _ in range(3))
    attn_blocks = tuple(0 if kind == "none" else rng.randint(1, 3) for kind in attn_types)
    style = rng.choice(("v2", "v2", "v1"))
    return ArchSpec(
        width_multiplier=rng.choice((0.25, 0.375, 0.5, 0.6, 0.75, 0.9, 1.0)),
        image_size=rng.randint(64, max_image_size),
        ir_depths=(rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 2), rng.randint(1, 2), 1),
        attn_blocks=attn_blocks,
        attn_types=attn_types,
        patch_size=rng.choice((1, 2, 2, 3)),
        ffn_multiplier=rng.choice((1.0, 1.5, 2.0, 3.0)),
        expand_ratio=rng.choice((1.0, 2.0, 3.0, 4.0)),
        num_classes=num_classes,
        num_heads=rng.choice((1, 2, 4)),
        block_style=style,
        head_conv_channels=rng.choice((0, 0, 128)) if style == "v2" else 128,
    )


class _StubModule(types.ModuleType):
    """A module whose every attribute is another stub, enough for `import torchvision...`."""

    def __getattr__(self, name: str) -> _StubModule:
        if name.startswith("__"):
            raise AttributeError(name)
        child = _StubModule(f"{self.__name__}.{name}")
        setattr(self, name, child)
        return child

    def __call__(self, *args: object, **kwargs: object) -> _StubModule:
        return self

    def __iter__(self):  # noqa: ANN204
        return iter(())

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


class _TorchvisionStubFinder:
    def find_spec(self, name: str, path: object, target: object = None):  # noqa: ANN201
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> _StubModule:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def import_timm() -> types.ModuleType | None:
    """Import timm, the reference implementation, or return None when it is not installed.

    timm imports torchvision at import time (for its data pipeline), but its models do not use it.
    torchvision has no CPU build for the torch used here, so when it cannot be imported it is
    replaced by a stub before timm is imported. Install timm with
    `pip install --no-deps timm==1.0.31`.

    Returns:
        The timm module, or None.
    """
    if importlib.util.find_spec("timm") is None:
        return None
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in [n for n in sys.modules if n.startswith("torchvision")]:
            del sys.modules[name]
        sys.meta_path.insert(0, _TorchvisionStubFinder())
    import timm

    return timm
