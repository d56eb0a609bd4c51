import subprocess
import sys

from mv2search.arch import PRESETS
from mv2search.cli import main


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
