"""The search end to end on real studies, real proxy training and real latency measurements:
outputs, budget rejection, failures as trials, seeded reproducibility, resume after a SIGKILL,
and several workers on one study (a SQLite file; PostgreSQL on loopback, marked slow)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from mv2search.arch import load_spec
from mv2search.search import run_search
from mv2search.search.runner import SearchWorker
from mv2search.study.objectives import exact_metrics
from mv2search.study.store import WORKER_DIED, TrialRecord
from tests.search.conftest import TINY, search_config

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Exact objectives only, so that results do not depend on latency noise.
DETERMINISTIC = [*TINY, "objectives=accuracy_macs", "objectives.budgets.gmacs=0.3"]


def _study(runs_dir: Path) -> Path:
    return next(p for p in runs_dir.iterdir() if (p / "trials.csv").is_file())


def test_tiny_search_writes_front_hypervolume_and_trainable_pareto_files(tmp_path):
    outcome = run_search(search_config(TINY, tmp_path), progress=False)
    worker = SearchWorker(search_config(TINY, tmp_path))  # reopens the same study
    records = worker.store.records()
    assert outcome.n_complete == 4 and len(records) == 4
    assert all(r.state == "COMPLETE" for r in records)
    for r in records:  # the budget held and the metrics are the exact ones
        assert r.metrics["gmacs"] <= 0.3
        assert r.metrics["gmacs"] == pytest.approx(exact_metrics(load_spec_dict(r.spec))["gmacs"])
        assert 0.0 <= r.metrics["accuracy"] <= 1.0 and r.metrics["latency_ms"] > 0
    trace = json.loads((outcome.out_dir / "hypervolume.json").read_text())
    assert trace["reference_point"] == [0.1, 100.0] and len(trace["hypervolume"]) == 4
    assert trace["hypervolume"] == sorted(trace["hypervolume"])
    assert trace["hypervolume"][-1] == pytest.approx(outcome.front.hypervolume)
    files = sorted((outcome.out_dir / "pareto").glob("*.yaml"))
    assert len(files) == len(outcome.front.records) >= 1
    for path, record in zip(files, outcome.front.records, strict=True):
        assert load_spec(str(path)).signature == record.signature
    # a plain Optuna study, as optuna-dashboard reads it: params under the space's names
    study = optuna.load_study(study_name=outcome.study, storage=worker.store.url)
    assert len(study.trials) == 4 and "width_multiplier" in study.trials[0].params
    assert "Pareto front" in outcome.summary and str(outcome.front.records[0].number) in (
        outcome.summary
    )


def load_spec_dict(spec: dict):
    from mv2search.arch.spec import ArchSpec

    return ArchSpec.from_dict(spec)


def test_over_budget_candidates_are_never_evaluated_and_do_not_count(tmp_path):
    # mobilevitv2_050 at 256 px is 0.47 GMACs: a 0.12 budget leaves only small corners
    cfg = search_config([*TINY, "objectives.budgets.gmacs=0.12", "optimizer.n_trials=3"], tmp_path)
    worker = SearchWorker(cfg)
    outcome = worker.run(progress=False)
    records = worker.store.records()
    assert len(records) == 3 and outcome.n_complete == 3
    assert all(r.metrics["gmacs"] <= 0.12 for r in records)
    assert worker.n_rejected > 0  # the optimizer met and skipped over-budget specs


def test_failed_evaluations_become_failed_trials_and_the_search_goes_on(tmp_path):
    # the warm-up (3 steps) covers the tiny run: a 0-step warm-up makes lr=1e6 act at once
    overrides = [*DETERMINISTIC, "trainer.lr=1e6", "trainer.warmup_steps=0", "optimizer.n_trials=3"]
    cfg = search_config(overrides, tmp_path)
    outcome = run_search(cfg, progress=False)
    assert outcome.n_failed == 3 and outcome.n_complete == 0 and outcome.front.records == []
    worker = SearchWorker(cfg)
    reasons = [r.reason for r in worker.store.records()]
    assert all(r.startswith("proxy training diverged") for r in reasons), reasons
    assert len({r.signature for r in worker.store.records()}) == 3  # never proposed twice


def test_same_seed_gives_the_same_trials(tmp_path):
    sequences = []
    for k in range(2):
        cfg = search_config([*DETERMINISTIC, "optimizer.n_trials=4"], tmp_path / str(k))
        worker = SearchWorker(cfg)
        worker.run(progress=False)
        sequences.append([(r.signature, r.values) for r in worker.store.records()])
    assert sequences[0] == sequences[1]
    other = search_config([*DETERMINISTIC, "optimizer.n_trials=4", "seed=1"], tmp_path / "s1")
    worker = SearchWorker(other)
    worker.run(progress=False)
    assert [r.signature for r in worker.store.records()] != [s for s, _ in sequences[0]]


def _search_cmd(runs_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "search.py"), *DETERMINISTIC, f"runs_dir={runs_dir}", *extra]


def _records(runs_dir: Path, *extra: str) -> list[dict]:
    return SearchWorker(search_config([*DETERMINISTIC, *extra], runs_dir)).store.records()


def test_killed_search_resumes_without_losing_or_repeating_a_trial(tmp_path):
    # long enough trials (4 epochs of 400 images) to kill one mid-training
    extra = ["optimizer.n_trials=4", "data.options.embedded_train_size=400", "trainer.epochs=4"]
    proc = subprocess.Popen(_search_cmd(tmp_path, *extra), env=ENV, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    killed_signature = None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1.0)
        try:
            records = _records(tmp_path, *extra)
        except Exception:  # the study is being created
            continue
        running = [r for r in records if r.state == "RUNNING"]
        checkpoints = list((tmp_path / "train").glob("*/checkpoint.pt"))
        done = [r for r in records if r.state == "COMPLETE"]
        if len(done) >= 1 and running and len(checkpoints) > len(done):
            killed_signature = running[0].signature
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert killed_signature is not None, "the search finished before it could be killed"
    again = subprocess.run(_search_cmd(tmp_path, *extra), env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    records = _records(tmp_path, *extra)
    complete = [r.signature for r in records if r.state == "COMPLETE"]
    assert len(complete) == 4 and len(set(complete)) == 4  # none lost, none repeated
    assert killed_signature in complete  # the killed trial was evaluated again ...
    died = [r for r in records if r.state == "FAIL"]
    assert [(r.signature, r.reason) for r in died] == [(killed_signature, WORKER_DIED)]
    assert "4 complete, 0 failed, 1 retried (worker died)" in again.stdout  # a retry, said so
    # ... and its training resumed from the checkpoint: the run folder has one history
    run = next(
        p for p in (tmp_path / "train").iterdir() if p.name.startswith(killed_signature[:12])
    )
    history = json.loads((run / "result.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1.0, 2.0, 3.0, 4.0]


def _workers_share_one_study(tmp_path: Path, n: int, *extra: str) -> list[TrialRecord]:
    cmd = _search_cmd(tmp_path, "optimizer.n_trials=6", *extra)
    procs = [
        subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(n)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert "%|" not in err.decode()  # no progress bars when not on a terminal
    records = _records(tmp_path, "optimizer.n_trials=6", *extra)
    assert records, out.decode()[-2000:] + err.decode()[-2000:]
    # the workers took turns rewriting the shared outputs: the last turn saw every trial
    out_dir = _study(tmp_path)
    assert len((out_dir / "trials.csv").read_text().splitlines()) == 1 + len(records)
    points = json.loads((out_dir / "pareto.json").read_text())["points"]
    files = sorted((out_dir / "pareto").glob("*.yaml"))
    assert [load_spec(str(f)).signature for f in files] == [p["signature"] for p in points]
    return records


def test_two_workers_share_one_sqlite_study(tmp_path):
    _check_shared(_workers_share_one_study(tmp_path, 2))


def test_two_workers_share_one_journal_study(tmp_path):
    _check_shared(_workers_share_one_study(tmp_path, 2, "storage=journal"))


def _check_shared(records: list[TrialRecord]) -> None:
    """Every trial completed once, none repeated, exactly the study's 6 (the claims count the
    study's trials under its lock)."""
    complete = [r for r in records if r.state == "COMPLETE"]
    rows = [(r.number, r.state, r.signature, r.reason) for r in records]
    assert len(complete) == len(records), rows  # no claim lost, no failure
    assert len({r.signature for r in complete}) == len(complete)  # none repeated
    assert len(complete) == 6, rows
    assert len({r.pid for r in records}) >= 2  # the work was shared


@pytest.mark.slow
def test_four_workers_share_one_postgresql_study(tmp_path, postgres_url):
    records = _workers_share_one_study(
        tmp_path, 4, "storage=postgresql", f"storage.url={postgres_url}"
    )
    _check_shared(records)


@pytest.mark.parametrize(("name", "storage"), [("random", "sqlite"), ("tpe", "journal")])
def test_optuna_baselines_run_through_the_same_loop(name, storage, tmp_path):
    # an Optuna sampler keeps its own start-up design: its schema has no n_initial
    base = [o for o in DETERMINISTIC if not o.startswith("optimizer.n_initial")]
    extra = [f"optimizer={name}", "optimizer.n_trials=3"]
    cfg = search_config([*base, *extra, f"storage={storage}"], tmp_path)
    outcome = run_search(cfg, progress=False)
    assert outcome.n_complete == 3 and outcome.study.endswith(f"-{name}-s0")
    suffix = {"sqlite": "db", "journal": "journal"}[storage]
    assert (outcome.out_dir / f"study.{suffix}").is_file()


def test_predicted_latency_fills_the_lookup_table_once(tmp_path):
    from mv2search.cost.predictor import LatencyPredictor
    from mv2search.cost.store import LatencyStore, cached_latency
    from mv2search.report.html import build_report

    extra = ["evaluator.latency=predicted", "optimizer.n_trials=2"]
    worker = SearchWorker(search_config([*TINY, *extra], tmp_path))
    outcome = worker.run(progress=False)
    store = LatencyStore(tmp_path / "latency.sqlite")
    predictor = LatencyPredictor(worker.evaluator.device, store)
    for record in worker.store.records():
        spec = load_spec_dict(record.spec)
        assert predictor.missing([spec]) == []  # every block of an evaluated spec is stored
        assert record.metrics["latency_ms"] == pytest.approx(predictor.predict_us(spec) / 1e3)
    # the front's networks were then measured whole, and the check pairs them with the prediction
    check = json.loads((outcome.out_dir / "latency_check.json").read_text())
    assert [p["trial"] for p in check["points"]] == [r.number for r in outcome.front.records]
    for point, record in zip(check["points"], outcome.front.records, strict=True):
        spec = load_spec_dict(record.spec)
        stats, hit = cached_latency(spec, worker.evaluator.device, store)
        assert hit and point["measured_ms"] == pytest.approx(stats.median_ms)
        assert point["predicted_ms"] == pytest.approx(record.metrics["latency_ms"])
    page = build_report(outcome.out_dir).read_text()
    assert "latency predictor" in page
    if len(check["points"]) >= 2:
        assert outcome.latency_check.mape == pytest.approx(check["mape"])
        assert (outcome.out_dir / "report" / "latency.png").is_file()
