"""`mv2search.files`: atomic writes that keep the mode a plain `open()` gives."""

import os
import stat

import pytest

from mv2search.files import atomic_write_bytes, write_json


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        write_json(tmp_path / "b.json", {"a": 1})
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert expected == 0o666 & ~mask
    for name in ("a.bin", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected


def test_ctrl_c_during_a_checkpoint_write_waits_for_the_write_then_raises(tmp_path, monkeypatch):
    import signal

    import torch

    from mv2search.train.checkpoint import load_checkpoint, save_checkpoint

    state = {"weights": torch.arange(100_000, dtype=torch.float32)}
    real_save = torch.save

    def save_hit_by_ctrl_c(obj, file, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while torch.save calls file.write
        real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_hit_by_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "checkpoint.pt", state)
    assert torch.equal(load_checkpoint(tmp_path / "checkpoint.pt")["weights"], state["weights"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
