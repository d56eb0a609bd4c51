"""`search.py`'s Hydra config: every option of every group composes and builds; bad input fails
with a message that names the field and lists what is allowed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from mv2search.apps.entry import run_checked
from mv2search.apps.search import APP
from mv2search.search.runner import SearchWorker
from mv2search.search.settings import build_objectives
from mv2search.search.space import SearchSpace, available_spaces
from tests.search.conftest import compose_search, search_config

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "mv2search" / "conf"
GROUPS = {
    "objectives": CONF / "search" / "objectives",
    "optimizer": CONF / "search" / "optimizer",
    "data": CONF / "search" / "data",
    "storage": CONF / "search" / "storage",
    "logger": CONF / "search" / "logger",
    "device": CONF / "device",
    "trainer": CONF / "trainer",
}
OPTIONS = [(g, p.stem) for g, d in GROUPS.items() for p in sorted(d.glob("*.yaml"))]
# options that need a value only the user can give
REQUIRED = {
    ("data", "folder"): "data.source=/data/x",
    ("storage", "postgresql"): ("storage.url=postgresql://u@localhost:5432/db"),
}


@pytest.mark.parametrize("space", available_spaces())
def test_every_space_composes_into_a_valid_space(space):
    cfg = OmegaConf.to_object(compose_search([f"+space={space}"]))
    built = SearchSpace.from_dict(dict(cfg.space), source=space)
    assert built.name == space and built.dim == len(cfg.space["parameters"])


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_every_group_option_composes_and_builds(group, option, tmp_path):
    extra = [REQUIRED[(group, option)]] if (group, option) in REQUIRED else []
    cfg = search_config(["+space=mv2", f"{group}={option}", *extra], tmp_path)
    assert getattr(cfg, group).name == option
    objectives = build_objectives(cfg.objectives)
    assert len(objectives.reference_point) == objectives.m


def test_default_objectives_are_accuracy_and_latency_under_a_macs_budget(tmp_path):
    cfg = search_config(["+space=mv2"], tmp_path)
    objectives = build_objectives(cfg.objectives)
    assert [(o.name, o.direction) for o in objectives.objectives] == [
        ("accuracy", "max"),
        ("latency_ms", "min"),
    ]
    assert [(b.metric, b.max_value) for b in objectives.budgets] == [("gmacs", 0.5)]


def test_unknown_space_fails_listing_the_spaces():
    with pytest.raises(MissingConfigException) as err:
        compose_search(["+space=mv3"])
    for name in available_spaces():
        assert name in str(err.value.options or "") or name in str(err.value)


def test_missing_space_is_an_error_listing_the_spaces(capsys):
    assert run_checked(APP, compose_search([])) == 2
    message = capsys.readouterr().err
    assert "+space=" in message and all(name in message for name in available_spaces())


def test_supernet_accuracy_composes_with_its_recipe(tmp_path):
    cfg = search_config(["+space=mv2", "evaluator.accuracy=supernet"], tmp_path)
    assert cfg.evaluator.accuracy == "supernet" and cfg.evaluator.supernet.steps == 300
    assert search_config(["+space=mv2"], tmp_path).evaluator.accuracy == "train"
    with pytest.raises(ConfigCompositionException, match="stepz"):
        compose_search(["+space=mv2", "evaluator.supernet.stepz=3"])


def test_misspelled_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="n_trails"):
        compose_search(["+space=mv2", "optimizer.n_trails=3"])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("objectives.metrics.0.name=acc", "objectives.metrics[0].name"),
        ("objectives.reference_point=[0.1]", "reference_point"),
        ("+objectives.budgets.latency_ms=10", "objectives.budgets.latency_ms"),
        ("objectives.budgets.gmacs=-1", "objectives.budgets.gmacs"),
        ("evaluator.latency=guessed", "evaluator.latency"),
        ("evaluator.accuracy=guessed", "evaluator.accuracy: 'guessed'; allowed: ['train'"),
        ("evaluator.supernet.batch_size=0", "evaluator.supernet.batch_size"),
        ("optimizer.name=cmaes", "optimizer.name: 'cmaes' is not known; allowed: ['botorch'"),
        ("logger.name=tensorboard", "logger.name: 'tensorboard' is not known; allowed"),
        ("storage.url=mysql://x", "storage.url"),
        ("device.backend=tpu", "backend"),
    ],
)
def test_bad_setting_is_an_error_naming_the_field(override, field, tmp_path, capsys):
    cfg = compose_search(["+space=mv2", override, f"runs_dir={tmp_path}"])
    assert run_checked(APP, cfg) == 2
    assert field in capsys.readouterr().err
    assert not list(tmp_path.rglob("study.*"))  # refused before a study was created


@pytest.mark.parametrize(("group", "option"), sorted(REQUIRED))
def test_required_values_must_be_given(group, option, capsys):
    cfg = compose_search(["+space=mv2", f"{group}={option}"])
    assert run_checked(APP, cfg) == 2
    field = REQUIRED[(group, option)].split("=")[0]
    assert field in capsys.readouterr().err


def test_malformed_space_parameter_is_an_error_naming_it(tmp_path):
    cfg = search_config(["+space=mv2", "space.parameters.0.bounds=[2.0, 0.5]"], tmp_path)
    with pytest.raises(ValueError, match="width_multiplier"):
        SearchWorker(cfg)


def test_search_py_exits_with_2_and_the_message_on_bad_input(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "search.py"), f"runs_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "+space=<name>" in result.stderr


def test_search_py_runs_from_another_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "search.py"), "+space=nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: space=nope: no such option; allowed: ['mv2', 'mv2_attention', 'mv2_global'] "
        "or +space=<path to a YAML>\n"
    )


@pytest.mark.slow
def test_installed_wheel_serves_every_config_group(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(wheel_dir), str(REPO)], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("*.whl")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True)
    command = [sys.executable, str(target / "bin" / "mv2search-search"), "+space=mv2_global"]
    command += ["objectives=accuracy_macs", "storage=journal", "trainer=proxy", "--cfg", "job"]
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: mv2_global" in done.stdout and "name: accuracy_macs" in done.stdout
