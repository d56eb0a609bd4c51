import subprocess
import sys

from mv2search.apps.cli import main
from mv2search.arch import PRESETS


def test_preset_table(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert "4,901,841" in out and "1,843.8" in out  # mobilevitv2_100: params, MACs (M) at 256
    assert "1,272,024" in out and "mha/mha/mha" in out


def test_cost_of_a_spec_yaml(tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(PRESETS["mobilevitv2_050"].replace(image_size=128, name="").to_yaml())
    assert main(["cost", str(path)]) == 0
    out = capsys.readouterr().out
    assert "total: 1,370,593 params" in out
    assert "signature" in out and "mvit separable x4" in out


def test_errors_name_the_input(tmp_path, capsys):
    assert main(["cost", "mobilevitv9"]) == 2
    assert "unknown preset 'mobilevitv9'; available:" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("attn_types: [separable, flash, none]\nattn_blocks: [2, 4, 0]\n")
    assert main(["cost", str(bad)]) == 2
    assert "bad.yaml: attn_types: stage 4 has 'flash'" in capsys.readouterr().err


def test_module_entry_point_and_search_script():
    out = subprocess.run(
        [sys.executable, "-m", "mv2search", "presets"], capture_output=True, text=True, check=True
    ).stdout
    assert "mobilevitv2_200" in out


def test_latency_command_uses_the_store(tmp_path, capsys):
    profile = tmp_path / "quick.yaml"
    profile.write_text("backend: eager\nthreads: 1\nwarmup: 2\niters: 5\nmax_warmup_s: 1.0\n")
    store = str(tmp_path / "latency.sqlite")
    args = ["latency", "mobilevitv2_050", "--device", str(profile), "--store", store]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "ms median" in first and "backend=eager" in first and "from the store" not in first
    assert main(args) == 0
    assert "from the store" in capsys.readouterr().out
    assert main(["predict", "mobilevitv2_050", "--device", str(profile), "--store", store]) == 2
    assert "run `mv2search build-lut --device quick`" in capsys.readouterr().err


def test_build_lut_predict_and_validate_commands(tmp_path, capsys):
    profile = tmp_path / "quick.yaml"
    profile.write_text("backend: eager\nthreads: 1\nwarmup: 2\niters: 4\nmax_warmup_s: 1.0\n")
    common = ["--device", str(profile), "--store", str(tmp_path / "latency.sqlite")]
    space = ["--space", "mv2_attention"]
    assert main(["build-lut", *space, "--calibration", "3", *common]) == 0
    # 23 distinct blocks in the space (tests/search/test_cover.py) + the empty-graph overhead
    assert "LUT of 24 blocks; calibration slope" in capsys.readouterr().out
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "width_multiplier: 0.5\nimage_size: 128\nnum_classes: 10\n"
        "attn_types: [mha, none, additive]\nattn_blocks: [2, 0, 3]\n"
    )
    assert main(["predict", str(spec), *common]) == 0  # inside the space: every block is known
    assert "ms predicted (quick, calibrated on 3 networks)" in capsys.readouterr().out
    out = tmp_path / "out"
    args = ["validate-lut", *space, "--n", "3", "--calibration", "3", "--out", str(out)]
    assert main([*args, *common]) == 0
    assert "3 networks: MAPE" in capsys.readouterr().out
    assert (out / "validate_quick_mv2_attention.png").is_file()
