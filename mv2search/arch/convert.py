"""Weight interchange with timm: load `mobilevitv2_*` / `mobilevit_*` state dicts into our models.

Our module names are timm's, so a timm state dict maps one to one (the keys and shapes of timm
1.0.31 are listed in shared/reference/). The official cvnets checkpoints are published in this
format by timm (`timm/mobilevitv2_100.cvnets_in1k`); raw cvnets-format keys
(`layer_1.0.block.exp_1x1...`, MobileViTv1 and v2) are renamed to timm's by
`mv2search.arch.cvnets` when detected. Checks are strict: the first missing, unexpected or
mis-shaped key is named in the error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from mv2search.arch.cvnets import cvnets_to_timm, is_cvnets_state_dict

__all__ = ["load_timm_state_dict", "read_checkpoint", "HEAD_KEYS"]

HEAD_KEYS = ("head.fc.weight", "head.fc.bias")
_CONTAINER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model_state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.", "model.")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a timm-format checkpoint file (`.pth`/`.pt`/`.bin`, or `.safetensors` if installed).

    Training checkpoints that wrap the weights (`{"state_dict": ...}`, `{"model": ...}`, EMA weights
    preferred) and DDP/compile prefixes (`module.`, `_orig_mod.`) are unwrapped.

    Args:
        path: The file.

    Returns:
        A flat mapping of parameter/buffer names to tensors.

    Raises:
        ValueError: if the file is missing or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # optional dependency

        raw: object = load_file(str(path))
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle/zip errors come in many types
            raise ValueError(f"{path}: not a readable torch checkpoint ({err})") from err
    try:
        return unwrap_state_dict(raw)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def unwrap_state_dict(raw: object) -> dict[str, torch.Tensor]:
    """Strip checkpoint containers and DDP/compile prefixes from a loaded object.

    Raises:
        ValueError: if no mapping of tensors is found.
    """
    if isinstance(raw, Mapping):
        for key in _CONTAINER_KEYS:
            if isinstance(raw.get(key), Mapping):
                return unwrap_state_dict(raw[key])
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError("expected a state dict (a mapping of names to tensors)")
    out = {}
    for key, value in raw.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def load_timm_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, ignore_head: bool = False
) -> None:
    """Copy a timm `mobilevitv2_*` / `mobilevit_*` state dict into `model`, checking every key and
    shape.

    Args:
        model: A model from `build_model(spec)` whose spec matches the checkpoint's architecture.
        state_dict: The timm weights (e.g. from `read_checkpoint`); raw ml-cvnets weights are
            detected and renamed (`mv2search.arch.cvnets`).
        ignore_head: Keep the model's own classifier (`head.fc`) instead of loading it, to
            fine-tune on another number of classes.

    Raises:
        ValueError: naming the first key that is missing, unexpected or of the wrong shape.
    """
    state_dict = unwrap_state_dict(state_dict)
    if is_cvnets_state_dict(state_dict):  # raw ml-cvnets checkpoint: rename to timm keys
        state_dict = cvnets_to_timm(state_dict)
    target = model.state_dict()
    skip = set(HEAD_KEYS) if ignore_head else set()
    for key, tensor in target.items():
        if key in skip:
            continue
        if key not in state_dict:
            if key.endswith("num_batches_tracked"):  # optional in exported checkpoints
                continue
            raise ValueError(
                f"checkpoint is missing key {key!r} (shape {tuple(tensor.shape)}); "
                "is it for this architecture?"
            )
        source = state_dict[key]
        if tuple(source.shape) != tuple(tensor.shape):
            raise ValueError(
                f"key {key!r}: checkpoint shape {tuple(source.shape)} != model shape "
                f"{tuple(tensor.shape)}" + (" (use ignore_head=True)" if key in HEAD_KEYS else "")
            )
    unexpected = [key for key in state_dict if key not in target and key not in skip]
    if unexpected:
        raise ValueError(
            f"checkpoint has unexpected key {unexpected[0]!r} ({len(unexpected)} in all); "
            "is it for this architecture?"
        )
    with torch.no_grad():
        for key, tensor in target.items():
            if key in state_dict and key not in skip:
                tensor.copy_(state_dict[key])
