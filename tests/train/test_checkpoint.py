import json

import pytest
import torch

from mv2search.train.checkpoint import load_checkpoint, save_checkpoint, write_json


def test_checkpoint_round_trip_leaves_no_temporary_files(tmp_path):
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "progress": {"step": 7}}
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", state)
    loaded = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["progress"]["step"] == 7
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["checkpoint.pt"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, [1, 2])
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == [1, 2]


def test_a_corrupt_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="checkpoint.pt: unreadable training checkpoint"):
        load_checkpoint(path)
