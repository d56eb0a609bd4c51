"""optuna-dashboard serves a study of ours: a real server on loopback, read through its HTTP API."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mv2search.search.space import load_space
from mv2search.study.front import front_of
from mv2search.study.objectives import Objective, Objectives
from mv2search.study.store import WORKER_DIED, StudySettings, StudyStore

OBJECTIVES = Objectives(
    [Objective("accuracy", "max"), Objective("latency_ms", "min")], [0.0, 100.0]
)
SETTINGS = StudySettings(
    objectives=OBJECTIVES, space={"name": "mv2"}, optimizer="random", device="cpu_eager_1t"
)
DASHBOARD = shutil.which(
    "optuna-dashboard", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)


def open_study(
    runs: Path, name: str, journal: bool = False, settings: StudySettings = SETTINGS
) -> StudyStore:
    """The store of `runs/<name>/`: `study.db` (SQLite, the default) or `study.journal`."""
    space = load_space("mv2")
    (runs / name).mkdir(parents=True, exist_ok=True)
    return StudyStore.open(
        name,
        f"journal:{runs / name / 'study.journal'}" if journal else None,
        settings=settings,
        x_names=space.names,
        x_bounds=space.bounds.tolist(),
        runs_dir=str(runs),
    )


def write_study(
    runs: Path,
    name: str,
    n_complete: int,
    journal: bool = False,
    settings: StudySettings = SETTINGS,
) -> StudyStore:
    """A study of the `mv2` space written through the store, as workers would: `n_complete`
    COMPLETE trials (accuracy and latency from the width, resolution and depth), then one FAIL with
    a reason, one whose worker died and one still RUNNING.

    Args:
        runs: The runs folder; the store is `runs/<name>/study.db` (or `study.journal`).
        name: The study (and folder) name.
        n_complete: How many complete trials.
        journal: A journal file instead of SQLite (appends: far fewer fsyncs, for speed).
        settings: The study's settings (objectives accuracy max and latency_ms min).

    Returns:
        The store.
    """
    space = load_space("mv2")
    store = open_study(runs, name, journal, settings)
    specs = list({s.signature: s for s in space.sample(2 * n_complete + 6, seed=1)}.values())
    for k, spec in enumerate(specs[: n_complete + 3]):
        handle = store.claim(spec, space.encode(spec), seed=k)
        if k < n_complete:
            size = spec.width_multiplier * (spec.image_size / 256) ** 2
            accuracy = 0.2 + 0.3 * math.tanh(size) + 0.01 * (k % 3)
            latency = 5.0 + 20.0 * size + 0.5 * sum(spec.ir_depths)
            metrics = {"accuracy": accuracy, "latency_ms": latency, "gmacs": 0.1 * size}
            store.complete(handle, {**metrics, "mparams": 1.0 + size}, [accuracy, latency])
        elif k == n_complete:
            store.fail(handle, "diverged: loss is NaN")
        elif k == n_complete + 1:
            store.fail(handle, WORKER_DIED)
        else:
            handle.stop()  # left RUNNING, without a heartbeat thread
    return store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(store, base URL) of `optuna-dashboard sqlite:///.../study.db` on a free loopback port."""
    if DASHBOARD is None:
        pytest.skip("needs optuna-dashboard (pip install -e '.[dev]')")
    runs = tmp_path_factory.mktemp("runs")
    url = open_study(runs, "dash").url  # the study exists before the server opens the file
    port = _free_port()
    command = [DASHBOARD, url, "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        store = write_study(runs, "dash", n_complete=4)  # while the server starts (seconds)
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{base}/api/meta")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                pytest.fail(f"optuna-dashboard exited {server.returncode}: {server.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("optuna-dashboard did not answer within 90 s")
            time.sleep(0.2)
        yield store, base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def test_the_dashboard_lists_the_study_with_its_settings(served):
    store, base = served
    status, listing = _get(f"{base}/api/studies")
    assert status == 200
    (study,) = [s for s in listing["study_summaries"] if s["study_name"] == "dash"]
    assert study["directions"] == ["maximize", "minimize"]
    attrs = {a["key"]: a["value"] for a in study["user_attrs"]}  # JSON text, cut when long
    assert json.loads(attrs["objectives"]) == ["accuracy", "latency_ms"]
    assert json.loads(attrs["reference_point"]) == [0.0, 100.0]
    assert json.loads(attrs["x_names"]) == list(load_space("mv2").names)


def test_the_dashboard_reads_every_trial_as_the_store_does(served):
    store, base = served
    status, detail = _get(f"{base}/api/studies/{store.study._study_id}")
    assert status == 200 and detail["name"] == "dash"
    records = store.records()
    assert len(detail["trials"]) == len(records) == 4 + 3
    names = list(load_space("mv2").names)
    for trial, record in zip(detail["trials"], records, strict=True):
        assert trial["number"] == record.number
        assert trial["state"] == record.state.capitalize()  # Complete, Fail, Running
        assert trial.get("values") == (list(record.values) if record.values else None)
        assert [p["name"] for p in trial["params"]] == names  # the space's coordinates
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["signature"] == record.signature
    states = [r.state for r in records]
    assert states == ["COMPLETE"] * 4 + ["FAIL", "FAIL", "RUNNING"]
    assert [r.reason for r in records[4:6]] == ["diverged: loss is NaN", WORKER_DIED]
    # the dashboard's Pareto front is ours
    front = front_of(records, store.settings.objectives)
    assert sorted(t["number"] for t in detail["best_trials"]) == sorted(
        r.number for r in front.records
    )


def test_the_dashboard_draws_the_study(served):
    store, base = served
    study_id = store.study._study_id
    for plot in ("pareto_front", "parallel_coordinate", "timeline"):
        status, figure = _get(f"{base}/api/studies/{study_id}/plot/{plot}")
        assert status == 200 and figure["data"], plot  # a plotly figure as JSON
    status, importances = _get(f"{base}/api/studies/{study_id}/param_importances")
    assert status == 200 and len(importances["param_importances"]) == 2  # one per objective
