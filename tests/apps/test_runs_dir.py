"""Every app writes only under `runs_dir` (data caches, Hydra's folders, the latency store, W&B
files, the study): run from an empty folder with `runs_dir` elsewhere, the folder stays empty.
Files a study leaves are readable by others (`umask` 022 gives 0644)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_DATA = ["data.options.embedded_train_size=100", "data.options.embedded_val_size=50"]
TINY_SEARCH = [
    "+space=mv2",
    "optimizer.n_trials=2",
    "optimizer.n_initial=2",
    *TINY_DATA,
    "trainer.epochs=1",
    "trainer.batch_size=50",
    "device.iters=3",
    "device.warmup=1",
    "device.max_warmup_s=0.3",
    "objectives.budgets.gmacs=0.3",
    "logger=wandb",  # its offline files too
]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / script), *args]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, umask=0o022
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny search run from an empty folder: (that folder, runs_dir, the study folder)."""
    cwd, runs = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("runs")
    _run("search.py", *TINY_SEARCH, f"runs_dir={runs}", cwd=cwd)
    (study,) = [p for p in runs.iterdir() if (p / "study.db").is_file()]
    return cwd, runs, study


def test_search_writes_only_under_runs_dir_and_for_everyone(searched):
    cwd, runs, study = searched
    assert not list(cwd.iterdir())
    for name in ("hydra", "data", "train", "latency.sqlite"):
        assert (runs / name).exists(), name
    assert list((study / "wandb").glob("offline-run-*"))
    for name in ("trials.csv", "pareto.json", "hypervolume.json"):
        assert stat.S_IMODE((study / name).stat().st_mode) == 0o644, name


def test_report_writes_only_beside_its_study(searched, tmp_path):
    _, runs, study = searched
    _run("report.py", f"run={study}", cwd=tmp_path)
    assert not list(tmp_path.iterdir())
    assert stat.S_IMODE((study / "report.html").stat().st_mode) == 0o644
    assert list((runs / "hydra" / "report").iterdir())


@pytest.mark.slow
def test_confirm_writes_only_under_runs_dir(searched, tmp_path):
    _, runs, study = searched
    elsewhere, cwd = tmp_path / "elsewhere", tmp_path / "cwd"
    cwd.mkdir()
    args = ["top_k=1", "presets=false", "trainer.schedule_steps=2", "trainer.batch_size=50"]
    args += ["report=false", "embedded_train_size=100", "embedded_val_size=50"]
    _run("confirm.py", f"run={study}", *args, f"runs_dir={elsewhere}", cwd=cwd)
    assert not list(cwd.iterdir())
    assert (study / "confirm" / "confirmation.json").is_file()
    assert {p.name for p in elsewhere.iterdir()} >= {"hydra", "train", "latency.sqlite"}


def test_train_writes_only_under_runs_dir(tmp_path):
    cwd, runs = tmp_path / "cwd", tmp_path / "runs"
    cwd.mkdir()
    args = ["arch=mobilevitv2_050", "trainer.epochs=1", "trainer.image_size=32"]
    args += ["trainer.batch_size=50", *(f"data_{o.removeprefix('data.')}" for o in TINY_DATA)]
    _run("train.py", *args, f"runs_dir={runs}", cwd=cwd)
    assert not list(cwd.iterdir())
    assert {"hydra", "data", "train"} <= {p.name for p in runs.iterdir()}


@pytest.mark.slow
def test_scale_writes_only_under_runs_dir(tmp_path):
    from tests.scaling.conftest import TINY_SCALE

    cwd, runs = tmp_path / "cwd", tmp_path / "runs"
    cwd.mkdir()
    overrides = [o for o in TINY_SCALE if o != "logger=none"] + ["optimizer.n_trials=4"]
    _run("scale.py", *overrides, "scaling.min_trials=3", f"runs_dir={runs}", cwd=cwd)
    assert not list(cwd.iterdir())
    (study,) = [p for p in runs.iterdir() if (p / "scaling").is_dir()]
    assert (study / "scaling" / "analysis.json").is_file() and list(study.glob("wandb/*"))
