"""The study store: create/resume, dedupe by signature, failures, metadata, many workers, kills."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mv2search.search.space import load_space, spaces_dir
from mv2search.study.objectives import Objective, Objectives
from mv2search.study.store import WORKER_DIED

sys.path.insert(0, str(Path(__file__).parent))
import _store_worker as worker  # noqa: E402

WORKER = Path(__file__).parent / "_store_worker.py"


@pytest.fixture(scope="module")
def specs():
    return worker.specs()


@pytest.fixture(scope="module")
def space():
    return load_space("mv2")


def _open(url, name="s", **changes):
    return worker.open_store(url, name, settings=dataclasses.replace(worker.SETTINGS, **changes))


def _spawn(url, name, mode, index):
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, name, mode, str(index), "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_workers(url, name, n):
    procs = [_spawn(url, name, "all", k) for k in range(n)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        done += json.loads(out.strip().splitlines()[-1])
    return done


def test_default_url_create_reopen_resume(tmp_path, specs, space):
    store = worker.open_store(None, "demo", runs_dir=str(tmp_path))
    assert (tmp_path / "demo" / "study.db").is_file()
    handle = store.claim(specs[0], space.encode(specs[0]), seed=3)
    store.complete(handle, {"accuracy": 0.7, "macs": 2.0e6}, [0.7, 2.0e6])
    again = worker.open_store(None, "demo", runs_dir=str(tmp_path))
    records = again.history()
    assert again.n_complete == 1 and records.x.shape == (1, space.dim)
    assert records.signatures == [specs[0].signature]
    assert again.settings == worker.SETTINGS
    assert again.settings.objectives.reference_point == (0.0, 1.0e9)
    row = again.records()[0]
    assert row.seed == 3 and row.wall_time_s >= 0 and row.code_version
    assert row.metrics == {"accuracy": 0.7, "macs": 2.0e6} and row.values == (0.7, 2.0e6)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_same_signature_is_never_evaluated_twice(tmp_path, specs, space, kind):
    url = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else f"journal:{tmp_path}/s.log"
    store = _open(url)
    x = space.encode(specs[0])
    handle = store.claim(specs[0], x, seed=0)
    assert store.claim(specs[0], x, seed=0) is None  # RUNNING
    assert store.history().x_pending.shape == (1, space.dim)
    store.complete(handle, {"accuracy": 0.5}, [0.5, 1.0])
    assert store.claim(specs[0], x, seed=1) is None  # COMPLETE
    assert store.result(specs[0].signature).values == (0.5, 1.0)
    assert store.history().x_pending.shape == (0, space.dim)


def test_failure_is_a_result_with_its_reason(tmp_path, specs, space):
    store = _open(f"sqlite:///{tmp_path}/s.db")
    x = space.encode(specs[1])
    store.fail(store.claim(specs[1], x, seed=0), "CUDA out of memory")
    assert store.claim(specs[1], x, seed=0) is None
    assert store.history().failed == [(specs[1].signature, "CUDA out of memory")]
    assert store.n_failed == 1 and store.n_complete == 0


def test_settings_mismatch_names_only_the_fields_that_differ(tmp_path, specs, space):
    url = f"sqlite:///{tmp_path}/s.db"
    store = _open(url, name="alpha")
    store.complete(store.claim(specs[0], space.encode(specs[0]), seed=0), {}, [0.5, 1.0])
    changed = dataclasses.replace(worker.SETTINGS, optimizer="tpe", seed=3)
    with pytest.raises(ValueError) as err:
        worker.open_store(url, "alpha", settings=changed)
    message = str(err.value)
    assert message.startswith("study 'alpha' holds finished trials made with other settings: ")
    assert "evaluator.seed is 3 here but 0 in the store" in message
    assert "optimizer is 'tpe' here but 'random' in the store" in message
    assert message.count(" here but ") == 2 and len(message) < 300  # only what differs
    flipped = Objectives([Objective("accuracy", "min"), Objective("macs", "min")], [0.0, 1.0e9])
    with pytest.raises(ValueError, match=r"'alpha'.*directions is \['minimize', 'minimize'\]"):
        _open(url, name="alpha", objectives=flipped)


def test_a_study_without_finished_trials_takes_new_settings(tmp_path, specs, space):
    url = f"sqlite:///{tmp_path}/s.db"
    first = _open(url, name="beta")
    dead = first.claim(specs[0], space.encode(specs[0]), seed=0)
    first.fail(dead, WORKER_DIED)  # only a dead attempt: nothing finished
    again = _open(url, name="beta", seed=7)
    assert again.settings.seed == 7
    flipped = Objectives([Objective("accuracy", "min"), Objective("macs", "min")], [0.0, 1.0e9])
    recreated = _open(url, name="beta", objectives=flipped)  # new directions: created again
    assert [d.name for d in recreated.study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert recreated.settings.objectives == flipped


@pytest.mark.parametrize("content", [b"this is not a database at all" * 10, b"\x00" * 4096])
def test_corrupt_file_is_an_error_naming_it_and_left_untouched(tmp_path, content):
    path = tmp_path / "study.db"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=str(path)):
        _open(f"sqlite:///{path}")
    assert path.read_bytes() == content


def test_two_processes_share_one_sqlite_study(tmp_path, specs):
    url = f"sqlite:///{tmp_path}/s.db"
    _open(url)
    done = _run_workers(url, "s", 2)
    assert sorted(done) == sorted(s.signature for s in specs)  # each exactly once
    store = _open(url)
    assert store.n_complete == len(specs) and store.n_failed == 0


def test_killed_worker_is_recovered_and_its_spec_completed_once(tmp_path, specs):
    url = f"sqlite:///{tmp_path}/s.db"
    _open(url)
    proc = _spawn(url, "s", "hang", 0)
    line = proc.stdout.readline().split()
    assert line[0] == "CLAIMED" and line[1] == specs[0].signature
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(4.5)  # grace period: 3 x heartbeat_s (1 s) without a heartbeat
    done = _run_workers(url, "s", 1)  # the same command again resumes
    assert sorted(done) == sorted(s.signature for s in specs)
    store = _open(url)
    assert store.history().failed == [(specs[0].signature, WORKER_DIED)]
    assert store.n_complete == len(specs)
    assert sorted(store.history().signatures) == sorted(done)


def test_killed_worker_is_recovered_on_a_journal_file(tmp_path, specs):
    url = f"journal:{tmp_path}/s.log"
    _open(url)
    proc = _spawn(url, "s", "hang", 0)
    assert proc.stdout.readline().split()[0] == "CLAIMED"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = _open(url)
    assert store.history().failed == [(specs[0].signature, WORKER_DIED)]
    handle = store.claim(specs[0], load_space("mv2").encode(specs[0]), seed=0)
    assert handle is not None


@pytest.mark.slow
def test_four_processes_share_one_postgresql_study(postgres_url, specs):
    _open(postgres_url)
    done = _run_workers(postgres_url, "s", 4)
    assert sorted(done) == sorted(s.signature for s in specs)  # no duplicate, none lost
    store = _open(postgres_url)
    assert store.n_complete == len(specs) and store.n_failed == 0


def test_a_study_stored_with_the_old_space_keys_opens_and_resumes(tmp_path, specs):
    # Before the spec's field names were used everywhere, mv2_global's depth multipliers were
    # `{name: ir_depth, scales: ir_depths}`: the store reads them in today's form, so the study
    # opens for the report and resumes with today's space file.
    mapping = yaml.safe_load((spaces_dir() / "mv2_global.yaml").read_text())
    settings = dataclasses.replace(worker.SETTINGS, space=mapping)
    store = worker.open_store(f"sqlite:///{tmp_path}/s.db", "old", settings=settings)
    x = load_space("mv2").encode(specs[0])  # a finished trial: the settings must then match
    store.complete(store.claim(specs[0], x, seed=0), {}, [0.5, 1.0])
    old = json.loads(json.dumps(store.study.user_attrs["space"]))
    for p in old["parameters"]:
        if p.get("scale"):
            p["scales"] = p.pop("name")
            p["name"] = {"ir_depths": "ir_depth", "attn_blocks": "attn_depth"}[p["scales"]]
            del p["scale"]
    store.study.set_user_attr("space", old)
    assert store.settings.space == settings.space
    again = worker.open_store(f"sqlite:///{tmp_path}/s.db", "old", settings=settings)
    assert again.study.user_attrs["space"] == old  # read in today's form, left as stored


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_each_rung_is_its_own_trial_claimed_once_after_the_rung_below(tmp_path, specs, space, kind):
    url = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else f"journal:{tmp_path}/s.log"
    store = _open(url, rungs=(2, 4), eta=2)
    x = space.encode(specs[0])
    assert store.claim(specs[0], x, seed=0, rung=1, steps=4) is None  # rung 0 not done
    first = store.claim(specs[0], x, seed=0, limit=1, steps=2)
    assert store.claim(specs[0], x, seed=0, rung=1, steps=4) is None  # rung 0 still running
    store.complete(first, {"accuracy": 0.4}, [0.4, 1.0], curve=[[1, 0.3], [2, 0.4]])
    assert store.claim(specs[1], space.encode(specs[1]), seed=0, limit=1) is None  # 1 candidate
    promoted = store.claim(specs[0], x, seed=0, limit=1, rung=1, steps=4)  # not limited
    assert promoted is not None and promoted.rung == 1
    assert store.claim(specs[0], x, seed=0, rung=1, steps=4) is None  # once
    store.complete(promoted, {"accuracy": 0.6}, [0.6, 1.0], curve=[[2, 0.4], [4, 0.6]])
    records = store.history()
    assert records.rungs == (0, 1) and records.n_finished == 1  # a promotion is no candidate
    assert records.taken == {(specs[0].signature, 0), (specs[0].signature, 1)}
    assert store.result(specs[0].signature, rung=1).values == (0.6, 1.0)
    rows = store.records()
    assert [(r.rung, r.steps, r.curve) for r in rows] == [
        (0, 2, ((1.0, 0.3), (2.0, 0.4))),
        (1, 4, ((2.0, 0.4), (4.0, 0.6))),
    ]
    assert store.settings.rungs == (2, 4) and store.settings.eta == 2
