"""`mv2search.apps.entry`: every app refuses an unknown key, with or without `+`, naming it and
listing the allowed ones, with exit status 2 and one line; run as a user runs the commands."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / script), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        (
            "search.py",
            ["+space=mv2", "+optimizer.n_trails=5"],
            "optimizer.n_trails: unknown key; allowed: ['name', 'n_trials', 'n_initial', 'opt",
        ),
        (
            "search.py",
            ["+space=mv2", "optimizer.n_trails=5"],
            "optimizer.n_trails: unknown key; allowed: ['name', 'n_trials', 'n_initial', 'opt",
        ),
        (
            "search.py",
            ["+space=mv2", "+optimizer.options.num_restart=3"],
            "optimizer.options.num_restart: unknown key; allowed: ['num_restarts', 'raw_samples',",
        ),
        (
            "search.py",
            ["+space=mv2", "optimizer=tpe", "optimizer.n_initial=3"],
            "optimizer.n_initial: unknown key; allowed: ['name', 'n_trials', 'options']",
        ),
        (
            "search.py",
            ["+space=mv2", "optimizer=cmaes"],
            "optimizer=cmaes: no such option; allowed: ['botorch', 'nsga2', 'optuna_gp', 'random',",
        ),
        (
            "search.py",
            ["+space=mv2", "+logger.projekt=x"],
            "logger.projekt: unknown key; allowed: ['name', 'project', 'entity', 'mode']",
        ),
        (
            "search.py",
            ["+space=mv2", "optimizer.n_trials=many"],
            "optimizer.n_trials: Value 'many' of type 'str' could not be converted to Integer",
        ),
        (
            "train.py",
            ["+trainer.epoch=1"],
            "trainer.epoch: unknown key; allowed: ['name', 'epochs',",
        ),
        ("confirm.py", ["run=x", "+top_kk=2"], "top_kk: unknown key; allowed: ['run',"),
        ("scale.py", ["+space=mv2_global", "+scaling.desing=sobol"], "scaling.desing: unknown key"),
        (
            "supernet.py",
            ["+space=mv2", "+evaluator.supernet.stepz=3"],
            "evaluator.supernet.stepz: unknown key; allowed: ['steps', 'batch_size',",
        ),
        (
            "report.py",
            ["run=x", "+storage=y"],
            "storage: unknown key; allowed: ['run', 'storage_url', 'runs_dir']",
        ),
    ],
)
def test_unknown_keys_exit_2_naming_the_key_and_the_allowed_ones(script, args, message, tmp_path):
    done = _run(script, *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
    assert not list(tmp_path.rglob("study.*"))  # nothing created


def test_multirun_jobs_are_checked_too(tmp_path):
    # Hydra's sweeps compose per job: the check inside the task refuses the unknown key
    done = _run("report.py", "-m", "run=x", "+storage=y,z", cwd=tmp_path)
    assert done.returncode == 2 and "storage: unknown key" in done.stderr


def test_input_errors_of_the_work_are_one_line_with_status_2(tmp_path):
    done = _run("train.py", "arch=mobilevitv9", f"runs_dir={tmp_path}/runs", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown preset 'mobilevitv9'")
    assert done.stderr.count("\n") == 1
    env = {**__import__("os").environ, "HYDRA_FULL_ERROR": "1"}
    command = [sys.executable, str(REPO / "train.py"), "arch=mobilevitv9"]
    full = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert full.returncode != 0 and "Traceback" in full.stderr  # the traceback on request


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    import signal
    import time

    runs = tmp_path / "runs"
    command = [sys.executable, str(REPO / "search.py"), "+space=mv2", "logger=none", "workers=1"]
    command += ["objectives=accuracy_macs", "data.options.embedded_train_size=600"]
    command += ["data.options.embedded_val_size=100", "trainer.epochs=20", f"runs_dir={runs}"]
    # a shell's background job ignores SIGINT, and its children inherit that: give it back
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # wait until a trial is training (12 s on a quiet machine: imports, data, the first steps);
    # the signal then often lands in a checkpoint write, which finishes first (mv2search.files)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(runs.glob("train/*/metrics.json")):
        time.sleep(0.5)
    assert list(runs.glob("train/*/metrics.json")), "no trial started training within 300 s"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert lines == [
        "interrupted: the study keeps every finished trial; the running one is marked 'worker "
        "died' and is evaluated first, from its last checkpoint, when you run the same command "
        "again"
    ]
