"""torchrun with 2 CPU processes (gloo): DistributedDataParallel training through train.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mv2search.data import build_datasets
from mv2search.train import TrainerConfig, train
from tests.train.conftest import IMAGE_SIZE, TRAIN_SIZE, VAL_SIZE

ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes_train_one_model(tmp_path, data_cache):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "train.py"),
        "arch=mobilevitv2_050",
        "trainer=proxy",
        "trainer.epochs=2",
        f"trainer.image_size={IMAGE_SIZE}",
        "trainer.batch_size=64",
        "trainer.num_workers=0",
        "torch_device=cpu",
        f"data_options.embedded_train_size={TRAIN_SIZE}",
        f"data_options.embedded_val_size={VAL_SIZE}",
        f"data_options.cache_dir={data_cache}",
        f"out_dir={tmp_path / 'run'}",
        f"runs_dir={tmp_path / 'runs'}",
    ]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    # a global batch of 64 = 2 x 32: the same 10 steps per epoch as one process with batch 64
    assert result["status"] == "ok" and result["steps"] == 2 * TRAIN_SIZE // 64
    assert [row["count"] for row in result["history"]] == [VAL_SIZE, VAL_SIZE]
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["identity"]["world_size"] == 2
    assert done.stdout.count("ok: top-1") == 1  # only rank 0 reports


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_the_gpu_with_bf16(small_spec, small_options):
    data = build_datasets("embedded", IMAGE_SIZE, options=small_options)
    trainer = TrainerConfig(epochs=2, batch_size=64, num_workers=0, precision="auto")
    result = train(small_spec, data, trainer, device="cuda")
    assert result.status == "ok" and result.top1 > 0.1
