"""A space file of the user's own (`+space=<path>`), validated like the built-in ones; a broken
space file breaks only itself."""

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import mv2search.apps.config as app_config
from mv2search.apps.entry import input_error
from mv2search.apps.search import APP
from mv2search.search.space import SearchSpace, spaces_dir
from tests.hydra_compose import compose_app

REPO = Path(__file__).resolve().parents[2]
MINE = """\
name: my_attention
base: mobilevitv2_050
fixed: {image_size: 128, num_classes: 10}
parameters:
  - {name: attn_types.0, type: choice, values: [separable, additive]}
  - {name: width_multiplier, type: float, bounds: [0.5, 0.75], step: 0.25}
"""


def _search(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "search.py"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_space_file_outside_the_package_is_used_and_validated(tmp_path):
    mine = tmp_path / "spaces" / "mine.yaml"
    mine.parent.mkdir()
    mine.write_text(MINE)
    done = _search(f"+space={mine}", "logger=none", "--cfg", "job", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    job = OmegaConf.to_container(OmegaConf.create(done.stdout))
    space = SearchSpace.from_dict(job["space"], source=str(mine))
    assert space.name == "my_attention" and space.names == ("attn_types.0", "width_multiplier")
    relative = _search("+space=spaces/mine.yaml", "logger=none", "--cfg", "job", cwd=tmp_path)
    assert relative.returncode == 0 and "name: my_attention" in relative.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINE.replace("type: choice", "type: pick"))
    refused = _search(f"+space={bad}", "logger=none", f"runs_dir={tmp_path}/runs", cwd=tmp_path)
    assert refused.returncode == 2
    assert "parameter 'attn_types.0': unknown type 'pick'" in refused.stderr
    assert not list(tmp_path.rglob("study.*"))


@pytest.mark.parametrize(
    ("text", "message"),
    [("base: [\n", "not a readable YAML file"), ("- 1\n", "expected a mapping")],
)
def test_a_broken_space_file_is_named_and_refused(tmp_path, text, message):
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    done = _search(f"+space={broken}", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(f"error: {broken}: {message}")
    assert done.stderr.count("\n") == 1
    missing = _search(f"+space={tmp_path / 'nope.yaml'}", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.yaml: no such file" in missing.stderr


def test_a_broken_built_in_space_breaks_only_itself(tmp_path, monkeypatch):
    folder = tmp_path / "search_spaces"
    folder.mkdir()
    (folder / "mv2.yaml").write_text((spaces_dir() / "mv2.yaml").read_text())
    (folder / "broken.yaml").write_text("parameters: [\n")
    monkeypatch.setattr(app_config, "spaces_dir", lambda: folder)
    register = app_config.register_search_configs
    good = compose_app("search", register, ["+space=mv2", "logger=none"])
    assert input_error(APP, good) is None and good.space.name == "mv2"
    chosen = compose_app("search", register, ["+space=broken", "logger=none"])
    assert input_error(APP, chosen).startswith(f"{folder / 'broken.yaml'}: not a readable YAML")
