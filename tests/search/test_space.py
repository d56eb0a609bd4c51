"""Tests of `mv2search.search.space`: the three spaces, the encoding, and the error messages."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from mv2search.arch import ArchSpec, build_model, get_preset
from mv2search.search import Parameter, SearchSpace, available_spaces, load_space

SPACES = ["mv2", "mv2_global", "mv2_attention"]


@pytest.fixture(scope="module", params=SPACES)
def space(request) -> SearchSpace:
    return load_space(request.param)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad_space.yaml"
    path.write_text(text)
    return path


def _mv2_yaml(parameter: str) -> str:
    return f"base: mobilevitv2_100\nparameters:\n  - {parameter}\n"


def test_available_spaces():
    assert set(SPACES) <= set(available_spaces())


def test_grid_sizes():
    # mv2: 7 widths x 5 resolutions x 2*3*2*2*2 IR depths x (1 + 4 * 3)^3 attention x 3 FFN.
    assert load_space("mv2").grid_size == 7 * 5 * 48 * 13**3 * 3
    assert load_space("mv2_global").grid_size == 7 * 7 * 3 * 4
    assert load_space("mv2_attention").grid_size == 4**3


def test_round_trip_of_samples(space):
    specs = space.sample(200, seed=0)
    assert len(specs) == 200
    for spec in specs:
        assert isinstance(spec, ArchSpec)
        spec.validate()
        x = space.encode(spec)
        assert space.decode(x) == spec
        assert space.contains(spec)
    x = torch.stack([space.encode(spec) for spec in specs])
    assert space.decode(x) == specs
    low, high = space.bounds
    assert bool(((x >= low) & (x <= high)).all())


def test_encode_of_decode_is_snap(space):
    generator = torch.Generator().manual_seed(1)
    low, high = space.bounds
    width = high - low
    # reach a little outside the bounds too: decode clamps
    x = (
        low
        - 0.1 * width
        + 1.2 * width * torch.rand(300, space.dim, generator=generator, dtype=torch.float64)
    )
    snapped = space.snap(x)
    encoded = torch.stack([space.encode(spec) for spec in space.decode(x)])
    assert torch.equal(encoded, snapped)
    assert torch.equal(space.snap(snapped), snapped)
    assert space.decode(snapped) == space.decode(x)
    assert torch.equal(space.snap(x[0]), snapped[0])


def test_bounds_shape(space):
    bounds = space.bounds
    assert bounds.shape == (2, space.dim)
    assert bounds.dtype == torch.float64
    assert bool((bounds[0] < bounds[1]).all())
    assert len(space.names) == space.dim
    assert space.name in repr(space)


def test_canonical_mobilevitv2_100_is_in_mv2():
    space = load_space("mv2")
    spec = get_preset("mobilevitv2_100").replace(num_classes=10)
    assert space.contains(spec)
    expected = [1.0, 256, 1, 2, 1, 1, 1, 2, 4, 3, 0, 0, 0, 1]  # separable = 0; ffn 2.0 = index 1
    assert space.encode(spec).tolist() == expected
    assert space.decode(space.encode(spec)) == spec
    assert space.names[:2] == ("width_multiplier", "image_size")


def test_sample_is_deterministic_per_seed(space):
    assert space.sample(8, seed=3) == space.sample(8, seed=3)
    assert space.sample(8, seed=3) != space.sample(8, seed=4)
    assert space.sample(0, seed=3) == []
    assert space.snap(torch.empty(0, space.dim)).shape == (0, space.dim)


def test_samples_cover_the_grid():
    space = load_space("mv2")
    specs = space.sample(256, seed=0)
    assert {s.width_multiplier for s in specs} == {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0}
    assert {s.image_size for s in specs} == {128, 160, 192, 224, 256}
    assert {s.attn_types[0] for s in specs} == {"separable", "mha", "additive", "none"}


def test_coupling_of_attention_count_and_type(space):
    for spec in space.sample(100, seed=2):
        for blocks, kind in zip(spec.attn_blocks, spec.attn_types, strict=True):
            assert (blocks == 0) == (kind == "none")


def test_inactive_type_coordinate_is_canonical():
    space = load_space("mv2")
    x = space.encode(get_preset("mobilevitv2_100").replace(num_classes=10))
    x[7], x[10] = 0.0, 2.0  # stage 3: no attention layers, type "additive"
    spec = space.decode(x)
    assert spec.attn_blocks[0] == 0 and spec.attn_types[0] == "none"
    assert space.encode(spec)[10] == 0.0  # inactive type encodes to index 0
    assert space.snap(x)[10] == 0.0
    active = space.is_active(x)
    assert not active[10] and bool(active[:10].all()) and bool(active[11:].all())


def test_without_attention_the_ffn_multiplier_is_inactive_and_canonical():
    space = load_space("mv2")
    x = space.encode(get_preset("mobilevitv2_100").replace(num_classes=10))
    x[7:10] = 0.0  # no attention layers in any stage: no FFN to size
    specs = []
    for ffn in (0.0, 1.0, 2.0):  # 1.5, 2.0, 3.0
        x[13] = ffn
        specs.append(space.decode(x))
        assert space.snap(x)[13] == 0.0 and not space.is_active(x)[13]
    assert {s.ffn_multiplier for s in specs} == {1.5}
    assert len({s.signature for s in specs}) == 1  # one network, one signature
    x[8] = 2.0  # attention again in stage 4: the multiplier counts
    assert space.is_active(x)[13] and space.decode(x).ffn_multiplier == 3.0


def test_mv2_attention_placement():
    space = load_space("mv2_attention")
    spec = space.decode(torch.tensor([3.0, 1.0, 0.0]))
    assert spec.attn_types == ("none", "mha", "separable")
    assert spec.attn_blocks == (0, 4, 3)
    assert spec.width_multiplier == 0.5 and spec.image_size == 128 and spec.num_classes == 10
    assert bool(space.is_active(torch.tensor([3.0, 1.0, 0.0])).all())


@pytest.mark.parametrize(
    ("ir_factor", "attn_factor", "ir_depths", "attn_blocks"),
    [
        (1, 0.5, (1, 2, 1, 1, 1), (1, 2, 2)),
        (2, 1.0, (2, 4, 2, 2, 2), (2, 4, 3)),
        (3, 1.5, (3, 6, 3, 3, 3), (3, 6, 5)),
        (1, 2.0, (1, 2, 1, 1, 1), (4, 8, 6)),
    ],
)
def test_mv2_global_scaling_rule(ir_factor, attn_factor, ir_depths, attn_blocks):
    space = load_space("mv2_global")
    assert space.names == ("image_size", "width_multiplier", "ir_depths", "attn_blocks")
    spec = space.decode(torch.tensor([224.0, 1.25, ir_factor, attn_factor]))
    assert (spec.image_size, spec.width_multiplier) == (224, 1.25)
    assert spec.ir_depths == ir_depths
    assert spec.attn_blocks == attn_blocks
    assert spec.attn_types == ("separable",) * 3


def test_scaling_to_zero_attention(tmp_path):
    path = _write(
        tmp_path,
        _mv2_yaml("{name: attn_blocks, type: choice, values: [0, 1.0], scale: true}"),
    )
    space = SearchSpace.from_yaml(path)
    spec = space.decode(torch.tensor([0.0]))
    assert spec.attn_blocks == (0, 0, 0) and spec.attn_types == ("none",) * 3
    assert space.encode(spec).tolist() == [0.0]
    assert space.grid_size == 2


CUSTOM = """
base: mobilevitv2_075
fixed: {num_classes: 10}
parameters:
  - {name: attn_blocks.0, type: int, bounds: [1, 3]}  # no 0: 'none' comes from the type
  - {name: attn_types.0, type: choice, values: [mha, none, separable]}
  - {name: attn_blocks.1, type: int, bounds: [0, 2]}
  - {name: attn_types.1, type: choice, values: [none, additive]}
  - {name: attn_types.2, type: choice, values: [additive, none]}
  - {name: expand_ratio, type: float, bounds: [1.0, 2.0], step: 0.5}
  - {name: head_conv_channels, type: int, bounds: [16, 18], log: true}
  - {name: ir_depths, type: choice, values: [1, 2], scale: true}
"""


def test_custom_space_canonical_encoding_and_grid_size(tmp_path):
    space = SearchSpace.from_yaml(_write(tmp_path, CUSTOM))
    grids = itertools.product(*(p.grid() for p in space.parameters))
    points = torch.tensor(
        [[p.encode_value(v) for p, v in zip(space.parameters, raw, strict=True)] for raw in grids],
        dtype=torch.float64,
    )
    specs = space.decode(points)
    assert space.grid_size == len(set(specs))
    encoded = torch.stack([space.encode(spec) for spec in specs])
    assert torch.equal(encoded, space.snap(points))
    assert space.decode(encoded) == specs
    # stage 3 typed 'none' with 2 layers: the layer count is inactive and snaps to its lowest value
    x = space.encode(specs[0]).clone()
    x[0], x[1] = 2.0, 1.0
    assert space.decode(x).attn_types[0] == "none"
    assert not space.is_active(x)[0] and space.snap(x)[0] == 1.0


@pytest.mark.parametrize("name", SPACES)
def test_sampled_specs_build_and_forward(name):
    space = load_space(name)
    for spec in space.sample(3, seed=5):
        model = build_model(spec).eval()
        with torch.inference_mode():
            out = model(torch.randn(1, 3, spec.image_size, spec.image_size))
        assert out.shape == (1, spec.num_classes) and bool(torch.isfinite(out).all())


def test_encode_outside_the_space_names_the_field():
    space = load_space("mv2")
    inside = get_preset("mobilevitv2_100").replace(num_classes=10)
    cases = {
        "num_classes": inside.replace(num_classes=1000),
        "image_size": inside.replace(image_size=288),
        "width_multiplier": inside.replace(width_multiplier=1.1),
        "ir_depths[1]": inside.replace(ir_depths=(1, 4, 1, 1, 1)),
        "attn_blocks[2]": inside.replace(attn_blocks=(2, 4, 5)),
        "ffn_multiplier": inside.replace(ffn_multiplier=4.0),
    }
    for field, spec in cases.items():
        with pytest.raises(ValueError, match=field.replace("[", r"\[")):
            space.encode(spec)
        assert not space.contains(spec)
    with pytest.raises(ValueError, match="ir_depths"):
        load_space("mv2_global").encode(
            get_preset("mobilevitv2_100").replace(num_classes=10, ir_depths=(1, 3, 1, 1, 1))
        )


def test_decode_rejects_a_wrong_shape(space):
    with pytest.raises(ValueError, match="shape"):
        space.decode(torch.zeros(space.dim + 1))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: image_size, type: int, bounds: [256, 128]}", r"'image_size'.*\[256, 128\]"),
        ("{name: image_size, type: integer, bounds: [128, 256]}", r"'image_size'.*unknown type"),
        ("{name: image_size, type: int}", r"'image_size'.*bounds"),
        ("{name: ffn_multiplier, type: choice}", r"'ffn_multiplier'.*values"),
        ("{name: depth, type: int, bounds: [1, 2]}", r"'depth'.*unknown field.*ir_depths"),
        ("{name: ir_depths.5, type: int, bounds: [1, 2]}", r"'ir_depths.5'.*out of range"),
        ("{name: ir_depths, type: int, bounds: [1, 2]}", r"'ir_depths'.*tuple.*scale: true"),
        ("{name: attn_types.0, type: choice, values: [mha, flash]}", r"'attn_types.0'.*'flash'"),
        ("{name: image_size, type: float, bounds: [128, 256]}", r"'image_size'.*integer"),
        ("{name: image_size, type: int, bounds: [128, 256], step: 48}", r"'image_size'.*step"),
        ("{name: image_size, type: int, bounds: [128, 256], colour: red}", r"'image_size'.*colour"),
        ("{name: image_size, type: int, bounds: [1, 2], scale: true}", r"'image_size'.*multiplies"),
        ("{name: ir_depths, type: int, bounds: [1, 2], scale: 2}", r"'ir_depths'.*scale must"),
        ("{name: x, type: int, bounds: [1, 2], scales: ir_depths}", r"'x'.*unknown key.*scale"),
    ],
)
def test_parameter_errors_name_the_parameter_and_file(tmp_path, entry, message):
    path = _write(tmp_path, _mv2_yaml(entry))
    with pytest.raises(ValueError, match=message) as info:
        SearchSpace.from_yaml(path)
    assert str(path) in str(info.value)


def test_parameter_validates_itself():
    with pytest.raises(ValueError, match=r"parameter 'image_size': bounds \[256, 128\] are not"):
        Parameter(name="image_size", type="int", bounds=(256, 128))
    assert Parameter(name="image_size", type="int", bounds=(128, 256), step=32).grid() == (
        128,
        160,
        192,
        224,
        256,
    )
    assert Parameter(name="width_multiplier", type="float", bounds=(0.5, 2.0)).grid() is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: mobilevitv2_100\nparameters: [\n", "malformed YAML"),
        ("base: mobilevitv2_100\nparameters: []\nextra: 1\n", r"unknown key.*extra"),
        ("base: mobilevit_huge\nparameters: []\n", r"unknown preset.*mobilevitv2_100"),
        ("base: mobilevitv2_100\n", "missing key 'parameters'"),
        (
            _mv2_yaml("{name: image_size, type: int, bounds: [128, 256]}") + "fixed: {depth: 2}\n",
            r"fixed.*depth",
        ),
        (
            _mv2_yaml("{name: image_size, type: int, bounds: [128, 256]}")
            + "  - {name: image_size, type: int, bounds: [128, 256]}\n",
            r"'image_size'.*already",
        ),
        (
            _mv2_yaml("{name: ir_depths, type: float, bounds: [1.0, 1.2], step: 0.1, scale: true}"),
            r"'ir_depths'.*same ir_depths",
        ),
    ],
)
def test_space_file_errors_name_the_file(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        SearchSpace.from_yaml(path)
    assert str(path) in str(info.value)


def test_unknown_space_name_lists_available():
    with pytest.raises(ValueError, match=r"unknown search space 'mv3'.*mv2_global"):
        load_space("mv3")
