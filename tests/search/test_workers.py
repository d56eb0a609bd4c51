"""Several workers on one study from one command (`workers=N`), and through Hydra's
submitit launcher (the local executor: the code path of `submitit_slurm`)."""

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from mv2search.search import resolve_workers, run_search
from mv2search.study.store import StudyStore
from tests.search.conftest import TINY, search_config

REPO = Path(__file__).resolve().parents[2]
EXACT = [o for o in TINY if o != "workers=1"] + ["objectives=accuracy_macs", "optimizer.n_trials=6"]


def test_workers_is_auto_or_a_positive_count():
    assert resolve_workers("auto") == len(os.sched_getaffinity(0))
    assert resolve_workers("3") == resolve_workers(3) == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match="workers: .*allowed: auto or an integer >= 1"):
            resolve_workers(bad)


def test_two_workers_from_one_command_finish_exactly_the_study(tmp_path):
    outcome = run_search(search_config([*EXACT, "workers=2"], tmp_path), progress=False)
    records = StudyStore.read(outcome.out_dir).records()
    assert [r.state for r in records] == ["COMPLETE"] * 6
    assert len({r.signature for r in records}) == 6  # none twice
    assert len({r.pid for r in records}) == 2  # both processes worked
    assert outcome.workers == 2 and outcome.evaluated == 6 and outcome.n_complete == 6


@pytest.mark.slow
def test_hydra_submitit_local_launcher_starts_workers_on_one_study(tmp_path):
    runs = tmp_path / "runs"
    overrides = [o for o in EXACT if o != "optimizer.n_trials=6"] + ["optimizer.n_trials=4"]
    command = [sys.executable, str(REPO / "search.py"), "-m", "hydra/launcher=submitit_local"]
    command += [*overrides, "workers=1", "worker_index=0,1,2", f"runs_dir={runs}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (db,) = runs.glob("*/study.db")
    study = optuna.load_study(study_name=db.parent.name, storage=f"sqlite:///{db}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4  # exactly n_trials
    assert len({t.user_attrs["pid"] for t in study.trials}) >= 2
    assert len(list((runs / "hydra" / "search-multirun").glob("*/.submitit/*"))) >= 3
    assert not [p for p in tmp_path.iterdir() if p != runs]  # everything under runs_dir
