"""Rename raw ml-cvnets MobileViT / MobileViTv2 state dicts to timm's key names.

The official checkpoints of apple/ml-cvnets (`mobilevitv2-0.5.pt` ... `mobilevitv2-2.0.pt`,
`mobilevit_xxs.pt`, `mobilevit_xs.pt`, `mobilevit_s.pt`) use cvnets' module names. Our models use
timm's (`mv2search.arch.convert`), so loading one is a pure renaming: every tensor keeps its shape
and its values, and no split, transpose or reshape is needed:

- cvnets' v1 `MultiHeadAttention` stores one `qkv_proj` `LinearLayer` (weight `3C x C`, rows
  ordered q, k, v, heads contiguous inside each: `reshape(B, N, 3, heads, C // heads)`), which is
  timm's `attn.qkv` exactly; its FFN layers are `LinearLayer`s (`out x in`, like `nn.Linear`).
- cvnets' v2 `LinearSelfAttention` stores `qkv_proj` as a 1x1 conv with `1 + 2C` output channels
  split `[1, C, C]` into query, key, value, the order of timm's `attn.qkv_proj`; its FFN layers are
  1x1 `ConvLayer2d`s (`out x in x 1 x 1`), like timm's `ConvMlp`.

Rules, cvnets -> timm (`N` = `i - 1` for cvnets' `layer_i`, `j` = block index in the stage; a
`ConvLayer2d` wraps `block.conv` and `block.norm`, which become timm's `conv` and `bn`):

    conv_1.block.{conv,norm}.*                     stem.{conv,bn}.*
    layer_i.j.block.exp_1x1.block.{conv,norm}.*    stages.N.j.conv1_1x1.{conv,bn}.*
    layer_i.j.block.conv_3x3.block.{conv,norm}.*   stages.N.j.conv2_kxk.{conv,bn}.*
    layer_i.j.block.red_1x1.block.{conv,norm}.*    stages.N.j.conv3_1x1.{conv,bn}.*
    layer_i.j.local_rep.conv_3x3.block.*     (v1)  stages.N.j.conv_kxk.{conv,bn}.*
    layer_i.j.local_rep.0.block.*            (v2)  stages.N.j.conv_kxk.{conv,bn}.*
    layer_i.j.local_rep.conv_1x1.block.conv.*(v1)  stages.N.j.conv_1x1.*
    layer_i.j.local_rep.1.block.conv.*       (v2)  stages.N.j.conv_1x1.*
    layer_i.j.global_rep.k.<transformer>     stages.N.j.transformer.k.<below>
    layer_i.j.global_rep.D.{weight,bias}     stages.N.j.norm.*  (D = depth: the final norm)
    layer_i.j.conv_proj.block.{conv,norm}.*        stages.N.j.conv_proj.{conv,bn}.*
    layer_i.j.fusion.block.{conv,norm}.*     (v1)  stages.N.j.conv_fusion.{conv,bn}.*
    conv_1x1_exp.block.{conv,norm}.*         (v1)  final_conv.{conv,bn}.*
    classifier.fc.*                          (v1)  head.fc.*
    classifier.1.*                           (v2)  head.fc.*

Inside a transformer block (v1 `TransformerEncoder`, v2 `LinearAttnFFN`):

    pre_norm_mha.0.*                     (v1)  norm1.*
    pre_norm_mha.1.qkv_proj.*            (v1)  attn.qkv.*
    pre_norm_mha.1.out_proj.*            (v1)  attn.proj.*
    pre_norm_attn.0.*                    (v2)  norm1.*
    pre_norm_attn.1.qkv_proj.block.conv.*(v2)  attn.qkv_proj.*
    pre_norm_attn.1.out_proj.block.conv.*(v2)  attn.out_proj.*
    pre_norm_ffn.0.*                           norm2.*
    pre_norm_ffn.1.*                     (v1)  mlp.fc1.*   (Linear, act, Dropout, Linear)
    pre_norm_ffn.4.*                     (v1)  mlp.fc2.*
    pre_norm_ffn.1.block.conv.*          (v2)  mlp.fc1.*   (ConvLayer2d, Dropout, ConvLayer2d)
    pre_norm_ffn.3.block.conv.*          (v2)  mlp.fc2.*

An `encoder.` prefix (cvnets segmentation/detection wrappers) is dropped. Keys that match no rule
(e.g. a `seg_head.*`) are passed through unchanged, so the strict loader names them.

Source: the key names were taken from HuggingFace transformers'
`src/transformers/models/mobilevitv2/convert_mlcvnets_to_pytorch.py` and
`src/transformers/models/mobilevit/convert_mlcvnets_to_pytorch.py` (run on the released
checkpoints), and the Sequential indices and qkv layouts checked against apple/ml-cvnets
`cvnets/models/classification/{mobilevit,mobilevit_v2}.py`, `cvnets/modules/{mobilevit_block,
mobilenetv2,transformer}.py` and `cvnets/layers/{conv_layer,linear_layer,linear_attention,
multi_head_attention}.py`. timm 1.0.31's `models/mobilevit.py` has no checkpoint filter: its
hub weights were converted offline.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["cvnets_to_timm", "is_cvnets_state_dict"]

_CONV_NORM = {"block.conv.": "conv.", "block.norm.": "bn."}


def _conv_norm(cvnets: str, timm: str) -> dict[str, str]:
    """Prefix pairs for a cvnets `ConvLayer2d` named `cvnets` that timm calls `timm`."""
    return {cvnets + old: timm + new for old, new in _CONV_NORM.items()}


# Outside the stages.
_TOP = {
    **_conv_norm("conv_1.", "stem."),
    **_conv_norm("conv_1x1_exp.", "final_conv."),  # v1 only (an Identity in v2)
    "classifier.fc.": "head.fc.",  # v1: Sequential(global_pool, [dropout], fc)
    "classifier.1.": "head.fc.",  # v2: Sequential(GlobalPool, LinearLayer)
}

# Inside `layer_i.j.`: an InvertedResidual or a MobileViT(v2) block, without its transformers.
_BLOCK = {
    **_conv_norm("block.exp_1x1.", "conv1_1x1."),
    **_conv_norm("block.conv_3x3.", "conv2_kxk."),
    **_conv_norm("block.red_1x1.", "conv3_1x1."),
    **_conv_norm("local_rep.conv_3x3.", "conv_kxk."),  # v1: named Sequential
    **_conv_norm("local_rep.0.", "conv_kxk."),  # v2: indexed Sequential
    "local_rep.conv_1x1.block.conv.": "conv_1x1.",  # no norm, no act: a bare conv in timm
    "local_rep.1.block.conv.": "conv_1x1.",
    **_conv_norm("conv_proj.", "conv_proj."),
    **_conv_norm("fusion.", "conv_fusion."),  # v1 only
}

# Inside `layer_i.j.global_rep.k.`.
_TRANSFORMER = {
    "pre_norm_mha.0.": "norm1.",  # v1: Sequential(LayerNorm, MultiHeadAttention, Dropout)
    "pre_norm_mha.1.qkv_proj.": "attn.qkv.",
    "pre_norm_mha.1.out_proj.": "attn.proj.",
    "pre_norm_attn.0.": "norm1.",  # v2: Sequential(LayerNorm2D, LinearSelfAttention, Dropout)
    "pre_norm_attn.1.qkv_proj.block.conv.": "attn.qkv_proj.",
    "pre_norm_attn.1.out_proj.block.conv.": "attn.out_proj.",
    "pre_norm_ffn.0.": "norm2.",
    "pre_norm_ffn.1.": "mlp.fc1.",  # v1: Sequential(LN, Linear, act, Dropout, Linear, Dropout)
    "pre_norm_ffn.4.": "mlp.fc2.",
    "pre_norm_ffn.1.block.conv.": "mlp.fc1.",  # v2: Sequential(LN, Conv+act, Dropout, Conv, Drop)
    "pre_norm_ffn.3.block.conv.": "mlp.fc2.",
}

_ENCODER_PREFIX = "encoder."


def _swap_prefix(name: str, table: Mapping[str, str]) -> str | None:
    """Replace the longest prefix of `name` found in `table`, or None if none matches."""
    matches = [prefix for prefix in table if name.startswith(prefix)]
    if not matches:
        return None
    prefix = max(matches, key=len)  # `pre_norm_ffn.1.block.conv.` (v2) over `pre_norm_ffn.1.`
    return table[prefix] + name[len(prefix) :]


def _stage_key(stage: str, rest: str) -> str | None:
    """timm name of `layer_i.<rest>`, or None if `rest` is not a cvnets block member."""
    index, _, member = rest.partition(".")
    if not (stage.isdigit() and index.isdigit()):
        return None
    prefix = f"stages.{int(stage) - 1}.{index}."
    if not member.startswith("global_rep."):
        converted = _swap_prefix(member, _BLOCK)
        return None if converted is None else prefix + converted
    position, _, inner = member[len("global_rep.") :].partition(".")
    if not position.isdigit():
        return None
    if inner in ("weight", "bias"):  # the LayerNorm after the last transformer block
        return f"{prefix}norm.{inner}"
    converted = _swap_prefix(inner, _TRANSFORMER)
    return None if converted is None else f"{prefix}transformer.{position}.{converted}"


def _timm_key(key: str) -> str:
    """timm name of one cvnets key (the key itself if no rule matches)."""
    name = key[len(_ENCODER_PREFIX) :] if key.startswith(_ENCODER_PREFIX) else key
    converted = _swap_prefix(name, _TOP)
    if converted is None and name.startswith("layer_"):
        stage, _, rest = name[len("layer_") :].partition(".")
        converted = _stage_key(stage, rest)
    return key if converted is None else converted


def is_cvnets_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether `state_dict` uses ml-cvnets' MobileViT / MobileViTv2 key names.

    Args:
        state_dict: A flat mapping of names to tensors (containers already unwrapped).

    Returns:
        True if it has a cvnets stem (`conv_1.block.*`) or stage (`layer_<i>.*`) key, optionally
        under `encoder.`, and no timm stem (`stem.*`).
    """
    names = [k[len(_ENCODER_PREFIX) :] if k.startswith(_ENCODER_PREFIX) else k for k in state_dict]
    if any(name.startswith("stem.") for name in names):
        return False
    return any(
        name.startswith("conv_1.block.")
        or (name.startswith("layer_") and name[len("layer_") :].partition(".")[0].isdigit())
        for name in names
    )


def cvnets_to_timm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a cvnets MobileViT / MobileViTv2 state dict to timm's keys (rules in the module doc).

    Tensors are passed through as they are (the same objects, same shapes); key order is kept.

    Args:
        state_dict: cvnets weights, e.g. `torch.load("mobilevitv2-1.0.pt")`.

    Returns:
        The same tensors under timm's names; keys that match no rule keep their name.

    Raises:
        ValueError: if two cvnets keys would land on the same timm key.
    """
    out: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}
    for key, tensor in state_dict.items():
        new_key = _timm_key(key)
        if new_key in out:
            raise ValueError(
                f"cvnets keys {sources[new_key]!r} and {key!r} both map to {new_key!r}"
            )
        out[new_key] = tensor
        sources[new_key] = key
    return out
