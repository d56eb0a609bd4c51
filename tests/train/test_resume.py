"""A run killed with SIGKILL part-way and started again ends exactly like an uninterrupted run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.train.conftest import IMAGE_SIZE, TRAIN_SIZE, VAL_SIZE

ROOT = Path(__file__).resolve().parents[2]


def _command(out_dir: Path, cache: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "arch=mobilevitv2_050",
        "data=embedded",
        "trainer=proxy",
        "trainer.epochs=3",
        f"trainer.image_size={IMAGE_SIZE}",
        "trainer.batch_size=32",
        "trainer.num_workers=0",
        "trainer.checkpoint_every_steps=3",
        f"data_options.embedded_train_size={TRAIN_SIZE}",
        f"data_options.embedded_val_size={VAL_SIZE}",
        f"data_options.cache_dir={cache}",
        f"out_dir={out_dir}",
        f"runs_dir={out_dir.parent / 'runs'}",
    ]


def _checkpoint_step(path: Path) -> int:
    try:
        return torch.load(path, weights_only=True)["progress"]["step"]
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return -1


def _final(run: Path) -> tuple[dict, dict]:
    result = json.loads((run / "result.json").read_text())
    for timing in ("wall_s", "images_per_s", "run_dir"):
        result.pop(timing)
    for row in result["history"]:
        row.pop("wall_s"), row.pop("images_per_s")
    return result, torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def test_killed_run_resumes_to_the_same_result(tmp_path, data_cache):
    # One thread per process: the two runs share the CI machine's two cores without contention.
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    reference = subprocess.Popen(_command(tmp_path / "reference", data_cache), env=env)
    killed = tmp_path / "killed"
    victim = subprocess.Popen(_command(killed, data_cache), env=env)
    deadline = time.monotonic() + 600
    while _checkpoint_step(killed / "checkpoint.pt") < 7 and time.monotonic() < deadline:
        assert victim.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    victim.kill()  # SIGKILL: no handler, no clean-up
    victim.wait()
    stopped_at = _checkpoint_step(killed / "checkpoint.pt")
    assert 7 <= stopped_at < 60 and not (killed / "result.json").exists()
    subprocess.run(_command(killed, data_cache), env=env, check=True, timeout=600)
    assert reference.wait(timeout=600) == 0
    resumed, resumed_weights = _final(killed)
    whole, whole_weights = _final(tmp_path / "reference")
    assert resumed == whole
    assert resumed_weights.keys() == whole_weights.keys()
    assert all(torch.equal(resumed_weights[k], whole_weights[k]) for k in whole_weights)
