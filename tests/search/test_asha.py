"""Asynchronous multi-objective successive halving: the promotion rule on a hand-made rung table,
and real searches with `fidelity=asha` (two worker processes on one file study, three on one
PostgreSQL study, a promotion killed mid-training and resumed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from mv2search.search.promotion import Promotion, RungEntry, promotable, rank_rung
from mv2search.search.runner import SearchWorker
from mv2search.study.store import WORKER_DIED, TrialRecord
from tests.search.conftest import TINY, search_config

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}

# accuracy (max) and giga-MACs (min, so negated here: the maximisation convention)
REFERENCE = [0.0, -3.0]
RUNG0 = [
    RungEntry("A", 0, (0.90, -1.0), 0),
    RungEntry("B", 0, (0.80, -0.5), 1),
    RungEntry("C", 0, (0.70, -0.4), 2),
    RungEntry("D", 0, (0.60, -2.0), 3),  # dominated by A and by E
    RungEntry("E", 0, (0.85, -1.5), 4),  # dominated by A
]


def test_rank_is_pareto_layer_then_exclusive_hypervolume():
    # layer 0 is A, B, C; their exclusive hypervolumes (reference (0, -3)) are
    # A 2.27 - 2.07 = 0.20, C 2.27 - 2.20 = 0.07, B 2.27 - 2.22 = 0.05; then E (layer 1), D (2)
    assert [e.signature for e in rank_rung(RUNG0, REFERENCE)] == ["A", "C", "B", "E", "D"]


def test_top_floor_n_over_eta_of_a_rung_is_promoted():
    taken = {(e.signature, 0) for e in RUNG0}
    # 5 finished, eta 2: 2 go on; B is on the front but adds least to it
    assert promotable(RUNG0, 2, 2, taken, REFERENCE) == [
        Promotion("A", 1, 0),
        Promotion("C", 1, 2),
    ]
    assert promotable(RUNG0, 3, 2, taken, REFERENCE) == [Promotion("A", 1, 0)]  # 5 // 3
    assert promotable(RUNG0[:1], 2, 2, {("A", 0)}, REFERENCE) == []  # a rung of one: none yet


def test_promotions_are_once_and_the_highest_rung_comes_first():
    rung1 = [RungEntry("A", 1, (0.95, -1.0), 5), RungEntry("C", 1, (0.75, -0.4), 6)]
    taken = {(e.signature, 0) for e in RUNG0} | {("A", 1), ("C", 1)}
    # rung 1: A 1.90 - (1.95 - 0.45)... exclusive A 2.35 - 1.95 = 0.40, C 2.35 - 1.90 = 0.45
    assert promotable(RUNG0 + rung1, 2, 2, taken, REFERENCE) == [Promotion("C", 2, 6)]
    assert promotable(RUNG0 + rung1, 2, 2, taken | {("C", 2)}, REFERENCE) == []
    # the top rung promotes nothing
    assert promotable(RUNG0 + rung1, 2, 1, taken, REFERENCE) == []
    with pytest.raises(ValueError, match="fidelity.eta"):
        promotable(RUNG0, 1, 2, taken, REFERENCE)


# --------------------------------------------------------------------------- real searches
def _asha(*extra: str) -> list[str]:
    # rungs of 2, 4 and 8 steps (100 images, batch 50: one epoch is 2 steps)
    return [*TINY, "fidelity=asha", "fidelity.rungs=[2,4,8]", "trainer=rungs", *extra]


def _cmd(runs_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "search.py"), *_asha(*extra), f"runs_dir={runs_dir}"]


def _records(runs_dir: Path, *extra: str) -> list[TrialRecord]:
    return SearchWorker(search_config(_asha(*extra), runs_dir)).store.records()


def _check_rungs(worker: SearchWorker, n_trials: int, eta: int = 2) -> None:
    records = worker.store.records()
    live = [r for r in records if not (r.state == "FAIL" and r.reason == WORKER_DIED)]
    counts = Counter((r.signature, r.rung) for r in live)
    assert max(counts.values()) == 1, counts  # no rung of a spec trained twice
    assert all(r.state == "COMPLETE" for r in live), [(r.state, r.reason) for r in live]
    assert sum(r.rung == 0 for r in live) == n_trials
    done = {(r.signature, r.rung) for r in live}
    assert all((r.signature, r.rung - 1) in done for r in live if r.rung)  # promoted from below
    assert all(r.steps == worker.rungs[r.rung] for r in live)
    # nothing is left to promote: every rung's top floor(n / eta) went on
    assert worker._promotions(worker.store.history()) == []
    n0, n1 = sum(r.rung == 0 for r in live), sum(r.rung == 1 for r in live)
    assert n1 >= n0 // eta and sum(r.rung == 2 for r in live) >= n1 // eta


def test_two_workers_on_one_file_study_never_train_a_rung_twice(tmp_path):
    # `workers=2`: two real processes from one command, on one SQLite study
    cmd = [*_cmd(tmp_path, "optimizer.n_trials=6"), "workers=2"]
    cmd.remove("workers=1")
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    worker = SearchWorker(search_config(_asha("optimizer.n_trials=6"), tmp_path))
    _check_rungs(worker, 6)
    records = worker.store.records()
    pids = {r.pid for r in records}
    assert len(pids) == 2  # both workers trained
    out = next(p for p in tmp_path.iterdir() if (p / "rungs.json").is_file())
    rungs = json.loads((out / "rungs.json").read_text())
    assert [r["steps"] for r in rungs["rungs"]] == [2, 4, 8] and rungs["top_rung"] == 2
    pareto = json.loads((out / "pareto.json").read_text())["points"]
    top = {r.number for r in records if r.rung == 2}
    assert pareto and {p["number"] for p in pareto} <= top  # the front is of the top rung


@pytest.mark.slow
def test_three_workers_on_one_postgresql_study_never_train_a_rung_twice(tmp_path, postgres_url):
    # `workers=3`: three real processes from one command, on one PostgreSQL study on loopback
    storage = ["storage=postgresql", f"storage.url={postgres_url}"]
    cmd = [*_cmd(tmp_path, "optimizer.n_trials=6", *storage), "workers=3"]
    cmd.remove("workers=1")
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    worker = SearchWorker(search_config(_asha("optimizer.n_trials=6", *storage), tmp_path))
    _check_rungs(worker, 6)
    assert len({r.pid for r in worker.store.records()}) == 3  # every worker trained


def test_a_killed_promotion_resumes_and_the_study_ends_as_if_never_killed(tmp_path):
    # the top rung long enough (40 steps) to be killed in the middle of it
    # exact costs only (a measured latency differs from run to run)
    extra = ["fidelity.rungs=[2,4,40]", "optimizer.n_trials=4", "objectives=accuracy_macs"]
    straight = subprocess.run(_cmd(tmp_path / "straight", *extra), env=ENV, capture_output=True)
    assert straight.returncode == 0, straight.stderr.decode()[-3000:]
    proc = subprocess.Popen(_cmd(tmp_path / "killed", *extra), env=ENV, stderr=subprocess.DEVNULL)
    deadline, killed = time.monotonic() + 300, None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            records = _records(tmp_path / "killed", *extra)
        except Exception:  # the study is being created
            continue
        running = [r for r in records if r.state == "RUNNING" and r.rung == 2]
        if running:  # its run resumes from the checkpoint of its last epoch end
            time.sleep(1.0)
            killed = running[0]
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert killed is not None, "the search finished before its top rung could be killed"
    again = subprocess.run(_cmd(tmp_path / "killed", *extra), env=ENV, capture_output=True)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    records = _records(tmp_path / "killed", *extra)
    died = [(r.signature, r.rung) for r in records if r.reason == WORKER_DIED]
    assert died == [(killed.signature, 2)]

    def trials(rs: list[TrialRecord]) -> list[tuple]:
        return sorted((r.signature, r.rung, r.values) for r in rs if r.state == "COMPLETE")

    # the resumed run continued its checkpoint: the same trials, bit for bit
    assert trials(records) == trials(_records(tmp_path / "straight", *extra))
    assert {r.rung for r in records if r.state == "COMPLETE"} == {0, 1, 2}
    assert torch.isfinite(torch.tensor([r.values for r in records if r.values])).all()
    _check_rungs(SearchWorker(search_config(_asha(*extra), tmp_path / "killed")), 4)
