"""`python supernet.py +space=...`: trains the supernet of `evaluator.accuracy=supernet` once,
reads it back on a second run, and a search with the same settings trains nothing; bad input
exits 2 with one line naming the field. Run as a user runs the commands, on the tiny space."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.supernet.helpers import TINY_SPACE_YAML

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "data.options.embedded_train_size=40",
    "data.options.embedded_val_size=10",
    "evaluator.supernet.steps=3",
    "evaluator.supernet.batch_size=8",
    "evaluator.supernet.num_random=1",
    "evaluator.supernet.bn_images=16",
    "objectives=accuracy_macs",  # no latency to measure in the search
]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    command = [sys.executable, str(REPO / script), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "spaces" / "tiny.yaml"
    path.parent.mkdir()
    path.write_text(TINY_SPACE_YAML)
    return path


def test_trains_once_then_reads_back_and_the_search_trains_nothing(space, tmp_path):
    runs, cwd = tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    args = [f"+space={space}", *TINY, f"runs_dir={runs}"]
    first = _run("supernet.py", *args, cwd=cwd)
    assert first.returncode == 0, first.stderr[-3000:]
    (line,) = first.stdout.splitlines()
    (run_dir,) = [p for p in (runs / "supernet").iterdir() if p.is_dir() and p.name != "spaces"]
    assert line.startswith(f"supernet {run_dir}/: trained 3 steps (now 3); largest: width 0.75")
    assert "; smallest: width 0.5, 128 px" in line
    checkpoint = run_dir / "checkpoint.pt"
    written = (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes())

    second = _run("supernet.py", *args, cwd=cwd)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.startswith(f"supernet {run_dir}/: read back from the cache (3 steps);")

    search = [*args, "evaluator.accuracy=supernet", "optimizer=random", "optimizer.n_trials=1"]
    searched = _run("search.py", *search, "logger=none", "workers=1", cwd=cwd)
    assert searched.returncode == 0, searched.stderr[-3000:]
    assert "1 complete, 0 failed" in searched.stdout
    folders = [p for p in (runs / "supernet").iterdir() if p.is_dir() and p.name != "spaces"]
    assert folders == [run_dir]  # the search's scorer found the same run ...
    assert (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()) == written  # ... trained
    assert not list(cwd.iterdir())  # everything under runs_dir

    # its front is confirmed like any other: trained with the (here cut-down) reference recipe
    (study,) = [p for p in runs.iterdir() if (p / "trials.csv").is_file()]
    recipe = ["top_k=1", "presets=false", "trainer.schedule_steps=4", "trainer.batch_size=8"]
    recipe += ["embedded_train_size=40", "embedded_val_size=10"]
    confirmed = _run("confirm.py", f"run={study}", *recipe, cwd=cwd)
    assert confirmed.returncode == 0, confirmed.stderr[-3000:]
    (config,) = json.loads((study / "confirm" / "confirmation.json").read_text())["configs"]
    assert config["kind"] == "found" and 0.0 <= config["full_accuracy"] <= 1.0
    assert config["full_run"].startswith(str(runs / "train"))  # trained, not inherited


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+optimizer.n_trials=2", "optimizer: unknown key; allowed: ['space', 'objectives'"),
        ("evaluator.supernet.steps=0", "evaluator.supernet.steps=0; allowed: "),
        ("objectives.budgets.gmacs=0.001", "objectives.budgets.gmacs: 0.001 is below the cheapest"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(override, message, space, tmp_path):
    runs = tmp_path / "runs"
    done = _run("supernet.py", f"+space={space}", override, f"runs_dir={runs}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
    assert not list(runs.glob("supernet/*/identity.json"))  # nothing trained


def test_ctrl_c_prints_one_line_and_exits_130(space, tmp_path):
    import signal
    import time

    runs = tmp_path / "runs"
    args = [f"+space={space}", *TINY, "evaluator.supernet.steps=1000", f"runs_dir={runs}"]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "supernet.py"), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120  # identity.json: written as training starts
    while time.monotonic() < deadline and not list(runs.glob("supernet/*/identity.json")):
        time.sleep(0.2)
    assert list(runs.glob("supernet/*/identity.json")), "the supernet did not start in 120 s"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert lines == [
        "interrupted: the supernet run keeps its last checkpoint (written every 200 steps); run "
        "the same command, or the search, again to resume from it"
    ]
    assert not out


def test_torchrun_two_processes_train_the_supernet_a_search_reads_back(space, tmp_path):
    """DDP (gloo, 2 CPU processes): one folder, the same key as one process, rank 0 writes."""
    runs, cwd = tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    args = [f"+space={space}", *TINY, f"runs_dir={runs}"]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [*command, str(REPO / "supernet.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in (runs / "supernet").iterdir() if p.is_dir() and p.name != "spaces"]
    assert done.stdout.count("trained 3 steps (now 3)") == 1  # rank 0 reports for the job
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["step"], result["finished"], result["processes"]) == (3, True, 2)
    again = _run("supernet.py", *args, cwd=cwd)  # one process: the same folder, nothing trained
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.startswith(f"supernet {run_dir}/: read back from the cache (3 steps);")
