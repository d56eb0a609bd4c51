"""`logger=wandb`: an offline run per worker whose files hold the per-trial metrics, the live Pareto
chart and hypervolume, the trials table, and the Pareto configs as an artifact."""

import json
import os
import subprocess
import sys

import wandb

from mv2search.search import run_search
from tests.search.conftest import TINY, search_config
from tests.search.wandb_records import read_records


def test_wandb_offline_run_has_pareto_chart_table_and_artifact(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the logger's default must be offline
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))  # not used: dir is the study's
    extra = ["logger=wandb", "optimizer.n_trials=3", "objectives=accuracy_macs"]
    outcome = run_search(search_config([*TINY, *extra], tmp_path), progress=False)
    assert os.environ["WANDB_MODE"] == "offline"
    wandb.teardown()  # finish() can return while the W&B service still writes the run file
    (run_file,) = (outcome.out_dir / "wandb").glob("offline-run-*/run-*.wandb")
    records = read_records(run_file)
    history = [r.history for r in records if r.WhichOneof("record_type") == "history"]
    keys = [{_key(item) for item in h.item} for h in history]
    assert len(history) == 3  # one row per trial, logged as it finished
    for row in keys:
        assert {"trial/accuracy", "trial/gmacs", "trial/width_multiplier"} <= row
        assert {"study/hypervolume", "study/front_size"} <= row
        assert any(k.startswith("study/trials/") for k in row)
        assert any(k.startswith("study/pareto/") for k in row)  # the PNG of the Pareto plane
    values = {_key(item): json.loads(item.value_json) for item in history[-1].item}
    assert values["study/hypervolume"] == outcome.front.hypervolume
    assert values["study/front_size"] == len(outcome.front.records)
    charts = [r for r in records if r.WhichOneof("record_type") == "config"]
    assert any("pareto_scatter" in str(c) for c in charts)  # the scatter chart's spec
    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    pareto = [a for a in artifacts if a.type == "pareto-configs"]
    assert len(pareto) == 1
    shipped = sorted(entry.path for entry in pareto[0].manifest.contents)
    assert shipped == sorted(p.name for p in (outcome.out_dir / "pareto").glob("*.yaml"))
    # `wandb sync` (here as a dry run: no network) finds the offline run to upload
    sync = subprocess.run(
        [sys.executable, "-m", "wandb", "sync", "--dry-run"],
        cwd=outcome.out_dir,
        env={k: v for k, v in os.environ.items() if k not in ("WANDB_DIR", "WANDB_SILENT")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr
    assert "Would sync 1 run" in sync.stdout + sync.stderr
    assert run_file.name in sync.stdout + sync.stderr


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)
