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
