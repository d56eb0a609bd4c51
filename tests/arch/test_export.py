"""`mv2search.arch.export`: ONNX graphs that onnxruntime runs with the logits of eager PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mv2search.arch import PRESETS, ArchSpec, build_model
from mv2search.arch.export import export_onnx
from mv2search.testing import random_spec

TOLERANCE = 1e-4  # max abs difference of the logits; observed ~1e-6


def _small_spec(attn_type: str, seed: int, image_size: int) -> ArchSpec:
    """A random spec of reduced width whose three attention stages all use `attn_type`."""
    base = random_spec(seed)
    blocks = (0, 0, 0) if attn_type == "none" else tuple(max(1, n) for n in base.attn_blocks)
    return base.replace(
        width_multiplier=0.25,
        image_size=image_size,
        attn_types=(attn_type,) * 3,
        attn_blocks=blocks,
        name=f"{attn_type}_{seed}",
    )


def _max_logit_error(spec: ArchSpec, path: Path, batch_size: int = 1) -> float:
    model = build_model(spec).eval()
    export_onnx(model, path, spec.image_size, batch_size=batch_size)
    image = torch.randn(batch_size, 3, spec.image_size, spec.image_size)
    with torch.inference_mode():
        expected = model(image).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": image.numpy()})
    assert logits.shape == (batch_size, spec.num_classes)
    return float(np.abs(logits - expected).max())


@pytest.mark.parametrize("name", ["mobilevitv2_050", "mobilevit_xxs"])
def test_preset_matches_eager(name: str, tmp_path: Path) -> None:
    assert _max_logit_error(PRESETS[name], tmp_path / f"{name}.onnx") < TOLERANCE


@pytest.mark.parametrize(
    ("attn_type", "seed", "image_size"),
    [("separable", 1, 67), ("mha", 2, 81), ("additive", 3, 97), ("none", 4, 73)],
)
def test_random_spec_matches_eager_at_odd_size(
    attn_type: str, seed: int, image_size: int, tmp_path: Path
) -> None:
    spec = _small_spec(attn_type, seed, image_size)
    batch_size = 2 if attn_type == "none" else 1  # one static batch > 1 as well
    assert _max_logit_error(spec, tmp_path / "model.onnx", batch_size) < TOLERANCE


def test_export_is_quiet_restores_mode_and_names_io(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import onnx

    model = build_model(_small_spec("separable", 5, 64))
    assert model.training
    path = export_onnx(model, tmp_path / "nested" / "model.onnx", 64, opset=19)
    assert model.training, "export_onnx must restore train mode"
    assert path == tmp_path / "nested" / "model.onnx" and path.is_file()
    assert not list(path.parent.glob("*.data")), "weights should be inside the .onnx file"
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    graph = onnx.load(str(path))
    assert [node.name for node in graph.graph.input] == ["image"]
    assert [node.name for node in graph.graph.output] == ["logits"]
    assert {op.domain: op.version for op in graph.opset_import}[""] == 19


def test_opset_the_exporter_cannot_produce_is_an_error(tmp_path: Path) -> None:
    # torch only logs a warning and keeps opset 18 when it cannot convert; we refuse instead.
    model = build_model(_small_spec("none", 6, 64))
    with pytest.raises(ValueError, match="opset: 99"):
        export_onnx(model, tmp_path / "model.onnx", 64, opset=99)
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(
    ("name", "value"), [("opset", 16), ("opset", 17), ("image_size", 0), ("batch_size", 0)]
)
def test_bad_arguments_name_the_argument(name: str, value: int, tmp_path: Path) -> None:
    model = build_model(PRESETS["mobilevitv2_050"])
    kwargs = {"opset": 18, "image_size": 64, "batch_size": 1, name: value}
    with pytest.raises(ValueError, match=name):
        export_onnx(model, tmp_path / "model.onnx", **kwargs)
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_matches_eager(name: str, tmp_path: Path) -> None:
    assert _max_logit_error(PRESETS[name], tmp_path / f"{name}.onnx") < TOLERANCE
