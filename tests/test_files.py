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
