"""Raw ml-cvnets checkpoints: key renaming to timm, and loading them gives timm's logits.

No cvnets checkpoint is downloaded: a cvnets-format state dict is made from a real timm model by
a test-side inverse renaming (`_to_cvnets`), written separately from `mv2search.arch.cvnets` and
pinned to cvnets names written out literally below. Those names were read from HuggingFace
transformers' `models/mobilevit{,v2}/convert_mlcvnets_to_pytorch.py` (run on the released
checkpoints) and apple/ml-cvnets' `cvnets/modules/{mobilevit_block,mobilenetv2,transformer}.py`.
"""

from __future__ import annotations

import re

import pytest
import torch

from mv2search.arch import PRESETS, build_model, load_timm_state_dict
from mv2search.arch.cvnets import cvnets_to_timm, is_cvnets_state_dict

# (cvnets key, timm key) for representative tensors. The v2 depths are 2, 4, 3, so the final
# LayerNorm of layer_4 is `global_rep.4` and of layer_5 `global_rep.3`.
LITERAL_V2 = [
    ("conv_1.block.conv.weight", "stem.conv.weight"),
    ("conv_1.block.norm.running_var", "stem.bn.running_var"),
    ("layer_1.0.block.exp_1x1.block.conv.weight", "stages.0.0.conv1_1x1.conv.weight"),
    ("layer_2.1.block.conv_3x3.block.norm.bias", "stages.1.1.conv2_kxk.bn.bias"),
    ("layer_3.0.block.red_1x1.block.norm.weight", "stages.2.0.conv3_1x1.bn.weight"),
    ("layer_3.1.local_rep.0.block.conv.weight", "stages.2.1.conv_kxk.conv.weight"),
    ("layer_3.1.local_rep.0.block.norm.running_mean", "stages.2.1.conv_kxk.bn.running_mean"),
    ("layer_3.1.local_rep.1.block.conv.weight", "stages.2.1.conv_1x1.weight"),
    ("layer_4.1.global_rep.3.pre_norm_attn.0.weight", "stages.3.1.transformer.3.norm1.weight"),
    (
        "layer_4.1.global_rep.0.pre_norm_attn.1.qkv_proj.block.conv.weight",
        "stages.3.1.transformer.0.attn.qkv_proj.weight",
    ),
    (
        "layer_4.1.global_rep.0.pre_norm_attn.1.out_proj.block.conv.bias",
        "stages.3.1.transformer.0.attn.out_proj.bias",
    ),
    ("layer_5.1.global_rep.2.pre_norm_ffn.0.bias", "stages.4.1.transformer.2.norm2.bias"),
    (
        "layer_5.1.global_rep.2.pre_norm_ffn.1.block.conv.weight",
        "stages.4.1.transformer.2.mlp.fc1.weight",
    ),
    (
        "layer_5.1.global_rep.2.pre_norm_ffn.3.block.conv.bias",
        "stages.4.1.transformer.2.mlp.fc2.bias",
    ),
    ("layer_4.1.global_rep.4.bias", "stages.3.1.norm.bias"),
    ("layer_5.1.global_rep.3.weight", "stages.4.1.norm.weight"),
    ("layer_5.1.conv_proj.block.conv.weight", "stages.4.1.conv_proj.conv.weight"),
    (
        "layer_5.1.conv_proj.block.norm.num_batches_tracked",
        "stages.4.1.conv_proj.bn.num_batches_tracked",
    ),
    ("classifier.1.weight", "head.fc.weight"),
    ("classifier.1.bias", "head.fc.bias"),
]

# MobileViTv1 (xxs: layer_2 has 3 blocks; depths 2, 4, 3).
LITERAL_V1 = [
    ("conv_1.block.conv.weight", "stem.conv.weight"),
    ("conv_1.block.norm.weight", "stem.bn.weight"),
    ("layer_2.2.block.red_1x1.block.conv.weight", "stages.1.2.conv3_1x1.conv.weight"),
    ("layer_3.0.block.exp_1x1.block.norm.bias", "stages.2.0.conv1_1x1.bn.bias"),
    ("layer_3.1.local_rep.conv_3x3.block.conv.weight", "stages.2.1.conv_kxk.conv.weight"),
    ("layer_3.1.local_rep.conv_3x3.block.norm.running_var", "stages.2.1.conv_kxk.bn.running_var"),
    ("layer_3.1.local_rep.conv_1x1.block.conv.weight", "stages.2.1.conv_1x1.weight"),
    ("layer_3.1.global_rep.0.pre_norm_mha.0.weight", "stages.2.1.transformer.0.norm1.weight"),
    (
        "layer_3.1.global_rep.1.pre_norm_mha.1.qkv_proj.weight",
        "stages.2.1.transformer.1.attn.qkv.weight",
    ),
    (
        "layer_3.1.global_rep.1.pre_norm_mha.1.qkv_proj.bias",
        "stages.2.1.transformer.1.attn.qkv.bias",
    ),
    (
        "layer_4.1.global_rep.3.pre_norm_mha.1.out_proj.bias",
        "stages.3.1.transformer.3.attn.proj.bias",
    ),
    ("layer_5.1.global_rep.0.pre_norm_ffn.0.weight", "stages.4.1.transformer.0.norm2.weight"),
    ("layer_5.1.global_rep.0.pre_norm_ffn.1.weight", "stages.4.1.transformer.0.mlp.fc1.weight"),
    ("layer_5.1.global_rep.0.pre_norm_ffn.4.weight", "stages.4.1.transformer.0.mlp.fc2.weight"),
    ("layer_3.1.global_rep.2.weight", "stages.2.1.norm.weight"),
    ("layer_5.1.global_rep.3.bias", "stages.4.1.norm.bias"),
    ("layer_4.1.conv_proj.block.norm.weight", "stages.3.1.conv_proj.bn.weight"),
    ("layer_4.1.fusion.block.conv.weight", "stages.3.1.conv_fusion.conv.weight"),
    ("conv_1x1_exp.block.conv.weight", "final_conv.conv.weight"),
    ("conv_1x1_exp.block.norm.running_mean", "final_conv.bn.running_mean"),
    ("classifier.fc.weight", "head.fc.weight"),
    ("classifier.fc.bias", "head.fc.bias"),
]

LITERAL = {
    "mobilevitv2_050": LITERAL_V2,
    "mobilevitv2_100": LITERAL_V2,
    "mobilevit_xxs": LITERAL_V1,
}


def _to_cvnets(timm_state: dict[str, torch.Tensor], v1: bool) -> dict[str, torch.Tensor]:
    """Test-side inverse: timm keys -> cvnets keys, by regular expressions on timm's names."""
    depths: dict[str, int] = {}  # "stages.N.j" -> number of transformer blocks
    for key in timm_state:
        if match := re.match(r"(stages\.\d+\.\d+)\.transformer\.(\d+)\.", key):
            depths[match[1]] = max(depths.get(match[1], 0), int(match[2]) + 1)
    attn = "pre_norm_mha" if v1 else "pre_norm_attn"
    conv = "" if v1 else "block.conv."  # v2 attention/FFN layers are ConvLayer2d
    inner = {
        "norm1.": f"{attn}.0.",
        "attn.qkv.": "pre_norm_mha.1.qkv_proj.",
        "attn.proj.": "pre_norm_mha.1.out_proj.",
        "attn.qkv_proj.": "pre_norm_attn.1.qkv_proj.block.conv.",
        "attn.out_proj.": "pre_norm_attn.1.out_proj.block.conv.",
        "norm2.": "pre_norm_ffn.0.",
        "mlp.fc1.": f"pre_norm_ffn.1.{conv}",
        "mlp.fc2.": f"pre_norm_ffn.{4 if v1 else 3}.{conv}",
    }
    member = {
        "conv1_1x1": "block.exp_1x1",
        "conv2_kxk": "block.conv_3x3",
        "conv3_1x1": "block.red_1x1",
        "conv_kxk": "local_rep.conv_3x3" if v1 else "local_rep.0",
        "conv_proj": "conv_proj",
        "conv_fusion": "fusion",
        "stem": "conv_1",
        "final_conv": "conv_1x1_exp",
    }
    out = {}
    for key, value in timm_state.items():
        new = re.sub(r"^head\.fc\.", "classifier.fc." if v1 else "classifier.1.", key)
        new = re.sub(r"^stages\.(\d+)\.", lambda m: f"layer_{int(m[1]) + 1}.", new)
        new = re.sub(
            r"(^|\.)(\w+)\.(conv|bn)\.(\w+)$",
            lambda m: f"{m[1]}{member[m[2]]}.block.{'conv' if m[3] == 'conv' else 'norm'}.{m[4]}",
            new,
        )
        new = re.sub(
            r"\.conv_1x1\.weight$",
            ".local_rep.conv_1x1.block.conv.weight" if v1 else ".local_rep.1.block.conv.weight",
            new,
        )
        stage = re.match(r"stages\.\d+\.\d+", key)
        if stage and key.startswith(stage[0] + ".norm."):
            new = new.replace(".norm.", f".global_rep.{depths[stage[0]]}.")
        if match := re.search(r"\.transformer\.(\d+)\.", new):
            rest = new[match.end() :]
            prefix = next(p for p in inner if rest.startswith(p))
            new = (
                f"{new[: match.start()]}.global_rep.{match[1]}.{inner[prefix]}{rest[len(prefix) :]}"
            )
        out[new] = value
    return out


@pytest.fixture(scope="module")
def timm_models(timm):
    """One eval-mode timm model per name, created on first use."""
    cache: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = timm.create_model(name).eval()
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(LITERAL))
def test_literal_cvnets_names(name, timm_models):
    state = timm_models(name).state_dict()
    pairs = LITERAL[name]
    assert all(timm_key in state for _, timm_key in pairs)
    # the library's renaming, checked against the names read from the sources
    renamed = cvnets_to_timm({cvnets_key: state[timm_key] for cvnets_key, timm_key in pairs})
    assert list(renamed) == [timm_key for _, timm_key in pairs]
    # the test-side inverse agrees with the same names, so the round trip below means something
    inverse = _to_cvnets(state, v1=name.startswith("mobilevit_"))
    by_tensor = {id(v): k for k, v in inverse.items()}
    assert [by_tensor[id(state[t])] for _, t in pairs] == [c for c, _ in pairs]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_gives_timm_keys_and_tensors(name, timm_models):
    state = timm_models(name).state_dict()
    cvnets = _to_cvnets(state, v1=name.startswith("mobilevit_"))
    assert len(cvnets) == len(state)
    assert not any(k.startswith(("stem.", "stages.", "head.", "final_conv.")) for k in cvnets)
    assert is_cvnets_state_dict(cvnets)
    assert not is_cvnets_state_dict(state)
    renamed = cvnets_to_timm(cvnets)
    assert list(renamed) == list(state)
    assert all(renamed[k] is state[k] for k in state)  # pure renaming, same tensors
    wrapped = cvnets_to_timm({f"encoder.{k}": v for k, v in cvnets.items()})
    assert list(wrapped) == list(state)
    assert is_cvnets_state_dict({f"encoder.{k}": v for k, v in cvnets.items()})


@pytest.mark.parametrize("name", sorted(LITERAL))
def test_cvnets_checkpoint_gives_timm_logits(name, timm_models):
    reference = timm_models(name)
    cvnets = _to_cvnets(reference.state_dict(), v1=name.startswith("mobilevit_"))
    ours = build_model(PRESETS[name]).eval()
    load_timm_state_dict(ours, {"state_dict": cvnets})  # detected and renamed inside
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = reference(x), ours(x)
    assert (expected[0] - expected[1]).abs().max() > 1e-3
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_unmapped_cvnets_keys_are_named_by_the_loader(timm_models):
    cvnets = _to_cvnets(timm_models("mobilevitv2_050").state_dict(), v1=False)
    cvnets["seg_head.aspp.weight"] = torch.zeros(1)
    assert cvnets_to_timm(cvnets)["seg_head.aspp.weight"] is cvnets["seg_head.aspp.weight"]
    with pytest.raises(ValueError, match=r"unexpected key 'seg_head.aspp.weight' \(1 in all\)"):
        load_timm_state_dict(build_model(PRESETS["mobilevitv2_050"]), cvnets)
