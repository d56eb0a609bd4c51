"""The timm converter: state dicts built from shared/reference/ key/shape lists, and golden
parity."""

import pytest
import torch

from mv2search.arch import PRESETS, build_model, load_timm_state_dict, read_checkpoint

REFERENCE_FILES = {
    "mobilevitv2_050": "timm_mobilevitv2_050_state_dict.tsv",
    "mobilevitv2_100": "timm_mobilevitv2_100_state_dict.tsv",
    "mobilevit_xxs": "timm_mobilevit_xxs_state_dict.tsv",
}


def _reference_state_dict(path, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, dtype = line.split("\t")
        dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
        if dtype == "int64":
            state[key] = torch.tensor(7, dtype=torch.int64).reshape(dims)
        else:
            value = torch.randn(dims, generator=generator) * 0.1
            state[key] = value.abs() + 0.5 if "running_var" in key else value
    return state


@pytest.mark.parametrize("name", sorted(REFERENCE_FILES))
def test_loads_reference_keys_and_shapes(name, reference_dir):
    state = _reference_state_dict(reference_dir / REFERENCE_FILES[name])
    model = build_model(PRESETS[name])
    load_timm_state_dict(model, state)
    loaded = model.state_dict()
    assert list(loaded) == list(state)  # one to one, same order
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_refuses_mismatches_naming_the_first_bad_key(reference_dir):
    state = _reference_state_dict(reference_dir / REFERENCE_FILES["mobilevitv2_050"])
    with pytest.raises(
        ValueError,
        match=r"key 'stem.conv.weight': checkpoint shape \(16, 3, 3, 3\)"
        r" != model shape \(32, 3, 3, 3\)",
    ):
        load_timm_state_dict(build_model(PRESETS["mobilevitv2_100"]), state)
    with pytest.raises(ValueError, match=r"missing key 'stages.2.1.conv_fusion.conv.weight'"):
        xxs_state = _reference_state_dict(reference_dir / REFERENCE_FILES["mobilevit_xxs"])
        xxs_state.pop("stages.2.1.conv_fusion.conv.weight")
        load_timm_state_dict(build_model(PRESETS["mobilevit_xxs"]), xxs_state)
    model = build_model(PRESETS["mobilevitv2_050"])
    with pytest.raises(ValueError, match=r"unexpected key 'extra.weight' \(1 in all\)"):
        load_timm_state_dict(model, {**state, "extra.weight": torch.zeros(1)})
    before = model.state_dict()["stem.conv.weight"].clone()
    broken = {k: v for k, v in state.items() if k != "head.fc.bias"}
    with pytest.raises(ValueError, match="missing key 'head.fc.bias'"):
        load_timm_state_dict(model, broken)
    assert torch.equal(model.state_dict()["stem.conv.weight"], before)  # nothing half-loaded


def test_fine_tune_head_and_checkpoint_files(reference_dir, tmp_path):
    state = _reference_state_dict(reference_dir / REFERENCE_FILES["mobilevitv2_050"])
    model = build_model(PRESETS["mobilevitv2_050"].replace(num_classes=10))
    with pytest.raises(ValueError, match=r"head.fc.weight.*use ignore_head=True"):
        load_timm_state_dict(model, state)
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    load_timm_state_dict(model, read_checkpoint(path), ignore_head=True)
    assert torch.equal(model.state_dict()["stem.conv.weight"], state["stem.conv.weight"])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable torch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="nope.pth: checkpoint file not found"):
        read_checkpoint(tmp_path / "nope.pth")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_golden_parity_with_timm(name, timm):
    """Same logits as timm's own model with the same weights (the trusted reference)."""
    torch.manual_seed(0)
    reference = timm.create_model(name).eval()
    ours = build_model(PRESETS[name]).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    load_timm_state_dict(ours, reference.state_dict())
    for size in (256, 77):  # 77: not divisible by the patch, both resize
        x = torch.randn(2, 3, size, size)
        with torch.inference_mode():
            expected, got = reference(x), ours(x)
        assert (expected[0] - expected[1]).abs().max() > 1e-3  # outputs depend on the input
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
