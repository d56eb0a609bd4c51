"""Torn journal studies (issue 14): refused on open, naming the offset; `repair-journal` fixes it.

The journal is a real one: 30 trials claimed and completed through the store by a worker
process (`WRITER`; it has exited when the tests run, as a crashed worker would have). Each test
cuts a copy of it as a torn write would, at an offset computed from the records themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mv2search.apps.cli import main
from mv2search.arch import PRESETS
from mv2search.study import _store_journal
from mv2search.study._store_journal import scan_journal
from mv2search.study.store import WORKER_DIED, StudyStore

sys.path.insert(0, str(Path(__file__).parent))
import _store_worker as worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAME = "demo"  # the study, and the folder it lives in
SET_STATE = 6  # Optuna's JournalOperation.SET_TRIAL_STATE_VALUES
SPECS = [PRESETS["mobilevitv2_050"].replace(image_size=32 + 8 * k) for k in range(30)]
# A worker: `python -c WRITER URL NAME JSON` claims and completes the specs of JSON in order
# (the k-th with x = [k]); lighter to start than `_store_worker.py` (no search space).
WRITER = """
import json, sys
import torch
from mv2search.arch import ArchSpec
from mv2search.study.store import StudySettings, StudyStore
url, name, given = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
store = StudyStore.open(name, url, settings=StudySettings.from_attrs(given["settings"], url))
for k, spec in enumerate(given["specs"]):
    handle = store.claim(ArchSpec.from_dict(spec), torch.tensor([float(k)]), seed=0)
    store.complete(handle, {"accuracy": 0.5, "macs": 1.0e6}, [0.5, 1.0e6])
"""


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> bytes:
    """The bytes of a journal study in which a worker process completed the 30 `SPECS`."""
    path = tmp_path_factory.mktemp("written") / NAME / "study.journal"
    path.parent.mkdir()
    given = {"settings": worker.SETTINGS.to_attrs(), "specs": [s.to_dict() for s in SPECS]}
    done = subprocess.run(
        [sys.executable, "-c", WRITER, f"journal:{path}", NAME, json.dumps(given)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path.read_bytes()


def _lines(data: bytes) -> list[tuple[int, int, dict]]:
    """`(start, end, record)` of every line; `end` is the offset after its newline."""
    found, start = [], 0
    for line in data.splitlines(keepends=True):
        found.append((start, start + len(line), json.loads(line)))
        start += len(line)
    return found


def _completion(data: bytes, k: int) -> tuple[int, int]:
    """`(start, end)` of the line that makes the `k`-th trial (0-based) COMPLETE."""
    done = [
        (start, end)
        for start, end, record in _lines(data)
        if record["op_code"] == SET_STATE and record["state"] == TrialState.COMPLETE.value
    ]
    return done[k]


def _complete_before(data: bytes, offset: int) -> int:
    """Trials made COMPLETE by the lines that end at or before `offset` (the oracle)."""
    return sum(
        1
        for _, end, record in _lines(data)
        if end <= offset
        and record["op_code"] == SET_STATE
        and record["state"] == TrialState.COMPLETE.value
    )


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / NAME / "study.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _open(path: Path) -> StudyStore:
    return StudyStore.open(NAME, f"journal:{path}", settings=worker.SETTINGS)


def _read(path: Path) -> StudyStore:
    return StudyStore.read(path.parent)


def test_a_journal_written_by_optuna_is_never_flagged(tmp_path, journal):
    whole = scan_journal(_write(tmp_path, journal))
    assert not whole.torn and not whole.corrupt
    assert whole.end == whole.size == len(journal) and whole.records == journal.count(b"\n")
    for _, end, _ in _lines(journal):  # every record boundary is a valid, shorter journal
        path = _write(tmp_path, journal[:end])
        _store_journal.check_journal(path)
        assert not scan_journal(path).torn
    assert _read(_write(tmp_path, journal)).n_complete == 30


@pytest.mark.parametrize("k", [0, 7])
def test_a_cut_at_a_record_boundary_is_not_torn_and_shows_fewer_trials(tmp_path, journal, k):
    _, end = _completion(journal, k)
    path = _write(tmp_path, journal[:end])
    assert _read(path).n_complete == k + 1 == _complete_before(journal, end)
    assert _open(path).n_complete == k + 1


def _cut(journal: bytes, kind: str) -> tuple[bytes, int]:
    """A torn copy of `journal` and the offset where its complete records end."""
    start, end = _completion(journal, 9)
    if kind == "mid-record":
        return journal[: (start + end) // 2], start
    if kind == "one byte into a record":
        return journal[: start + 1], start
    if kind == "one byte short of a newline":  # whole JSON, no newline
        return journal[: end - 1], start
    # a search that appended onto the cut line: the glued line ends the file
    after = _completion(journal, 10)
    return journal[: (start + end) // 2] + journal[after[0] : after[1]], start


KINDS = ["mid-record", "one byte into a record", "one byte short of a newline", "glued"]


@pytest.mark.parametrize("opener", [_open, _read], ids=["StudyStore.open", "StudyStore.read"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_torn_tail_is_refused_before_anything_is_read_or_appended(
    tmp_path, journal, kind, opener
):
    data, end = _cut(journal, kind)
    path = _write(tmp_path, data)
    with pytest.raises(ValueError) as err:
        opener(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert f"the complete records end at byte {end} " in message
    assert f"the {len(data) - end} bytes after them" in message
    assert f"move the torn tail to {path}.torn " in message
    assert message.endswith(f"run: mv2search repair-journal {path}")
    assert path.read_bytes() == data  # nothing appended
    assert sorted(p.name for p in path.parent.iterdir()) == ["study.journal"]


def test_a_whole_last_record_without_newline_is_torn_as_optuna_never_reads_it(tmp_path, journal):
    data, end = _cut(journal, "one byte short of a newline")
    path = _write(tmp_path, data)
    raw = optuna.load_study(study_name=NAME, storage=JournalStorage(JournalFileBackend(str(path))))
    assert len(raw.get_trials(states=(TrialState.COMPLETE,))) == 9  # the 10th is not read
    assert path.read_bytes() == data
    with pytest.raises(ValueError, match="a whole record without its newline"):
        _read(path)


def test_repair_keeps_the_complete_records_and_moves_the_tail(tmp_path, journal, capsys):
    data, end = _cut(journal, "mid-record")
    path = _write(tmp_path, data)
    records = journal[:end].count(b"\n")
    assert main(["repair-journal", str(path)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{path}: kept {records} complete records ({end} bytes); moved the torn tail "
        f"({len(data) - end} bytes) to {path}.torn"
    )
    assert path.read_bytes() == journal[:end]
    assert Path(f"{path}.torn").read_bytes() == data[end:]
    assert _read(path).n_complete == 9 == _complete_before(journal, end)
    assert main(["repair-journal", str(path)]) == 0  # not torn now: nothing changes
    assert capsys.readouterr().out.strip() == (
        f"{path}: not torn: {records} complete records ({end} bytes); nothing changed"
    )
    assert path.read_bytes() == journal[:end]
    assert Path(f"{path}.torn").read_bytes() == data[end:]


def test_repair_never_overwrites_a_torn_file(tmp_path, journal, capsys):
    data, end = _cut(journal, "one byte into a record")
    path = _write(tmp_path, data)
    for suffix in (".torn", ".torn.1"):
        Path(f"{path}{suffix}").write_bytes(b"an older tail" + suffix.encode())
    with pytest.raises(ValueError, match=f"move the torn tail to {path}.torn.2 "):
        _read(path)
    assert main(["repair-journal", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"(1 bytes) to {path}.torn.2")
    assert Path(f"{path}.torn").read_bytes() == b"an older tail.torn"
    assert Path(f"{path}.torn.1").read_bytes() == b"an older tail.torn.1"
    assert Path(f"{path}.torn.2").read_bytes() == data[end:]


def test_report_exits_2_and_the_repair_command_runs_as_a_process(tmp_path, journal):
    data, end = _cut(journal, "mid-record")
    path = _write(tmp_path / "report", data)
    torn, short = _cut(journal, "one byte short of a newline")
    other = _write(tmp_path / "repair", torn)
    commands = [  # both at once: each process spends seconds importing
        [sys.executable, "report.py", f"run={path.parent}"],
        [sys.executable, "-m", "mv2search", "repair-journal", str(other)],
    ]
    procs = [
        subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    (_, report_err), (repair_out, repair_err) = (p.communicate(timeout=120) for p in procs)
    assert procs[0].returncode == 2, report_err[-3000:]
    assert f"error: {path}: " in report_err
    assert f"the complete records end at byte {end} " in report_err
    assert f"mv2search repair-journal {path}" in report_err
    assert path.read_bytes() == data and not (path.parent / "report.html").exists()
    assert procs[1].returncode == 0, repair_err[-3000:]
    assert f"moved the torn tail ({len(torn) - short} bytes) to {other}.torn" in repair_out
    assert other.read_bytes() == journal[:short]


def test_repair_of_a_missing_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "study.journal"
    assert main(["repair-journal", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: no such journal file"
    assert not missing.parent.exists()


@pytest.mark.parametrize("opener", [_open, _read], ids=["StudyStore.open", "StudyStore.read"])
def test_a_corrupt_record_in_the_middle_is_refused_and_not_repaired(
    tmp_path, journal, opener, capsys
):
    data, end = _cut(journal, "glued")
    data += journal[_completion(journal, 11)[0] : _completion(journal, 11)[1]]  # one more append
    path = _write(tmp_path, data)
    with pytest.raises(ValueError) as err:
        opener(path)
    message = str(err.value)
    line = journal[:end].count(b"\n") + 1
    assert message.startswith(f"{path}: ")
    assert f"corrupt record at byte {end} (line {line}: not JSON" in message
    assert "with 1 more line after it; not a torn tail" in message
    assert "`mv2search repair-journal` does not repair it" in message
    assert main(["repair-journal", str(path)]) == 2
    assert f"error: {path}: corrupt record at byte {end} " in capsys.readouterr().err
    assert path.read_bytes() == data
    assert sorted(p.name for p in path.parent.iterdir()) == ["study.journal"]


def test_a_search_resumes_onto_the_repaired_journal(tmp_path, journal):
    start, end = _completion(journal, 12)  # trial 12 is left RUNNING by a worker now gone
    path = _write(tmp_path, journal[: end - 5])
    assert main(["repair-journal", str(path)]) == 0
    store = _open(path)
    assert store.n_complete == 12
    for k, spec in enumerate(SPECS):
        handle = store.claim(spec, torch.tensor([float(k)]), seed=1)
        if handle is not None:
            store.complete(handle, {"accuracy": 0.6, "macs": 2.0e6}, [0.6, 2.0e6])
    again = _read(path)
    assert again.n_complete == 30 and again.n_failed == 1
    assert again.history().failed == [(SPECS[12].signature, WORKER_DIED)]
    assert len(set(again.history().signatures)) == 30
    assert not scan_journal(path).torn and path.read_bytes().startswith(journal[:start])


def test_a_live_writer_mid_append_is_waited_for(tmp_path, journal):
    start, end = _completion(journal, 3)
    path = _write(tmp_path, journal[: start + 10])  # a record half written, under Optuna's lock
    lock = Path(f"{path}.lock")
    os.symlink(path, lock)

    def finish() -> None:
        time.sleep(0.3)
        with open(path, "ab") as file:
            file.write(journal[start + 10 : end])
        lock.unlink()

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        assert _read(path).n_complete == 4
    finally:
        writer.join()


def test_a_lock_left_by_a_dead_writer_does_not_hide_the_torn_tail(tmp_path, journal, monkeypatch):
    monkeypatch.setattr(_store_journal, "_WRITER_WAIT_S", 0.2)  # Optuna waits 30 s
    data, end = _cut(journal, "mid-record")
    path = _write(tmp_path, data)
    os.symlink(path, f"{path}.lock")
    with pytest.raises(ValueError, match=f"end at byte {end} "):
        _read(path)
    assert path.read_bytes() == data
