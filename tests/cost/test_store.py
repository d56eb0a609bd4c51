import multiprocessing
import sqlite3

import pytest

from mv2search.arch import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.cost.store import LatencyStore, cached_latency

FAST = DeviceProfile(name="fast", warmup=2, iters=5, max_warmup_s=1.0)
TINY = ArchSpec(width_multiplier=0.25, image_size=64, num_classes=10)


def test_hit_and_miss(tmp_path):
    store = LatencyStore(tmp_path / "latency.sqlite")
    first, hit = cached_latency(TINY, FAST, store)
    assert not hit and store.count() == 1
    second, hit = cached_latency(TINY, FAST, store)
    assert hit and second == first  # not measured again
    other, hit = cached_latency(TINY.replace(image_size=72), FAST, store)
    assert not hit and store.count() == 2
    # another device fingerprint is another key
    _, hit = cached_latency(TINY, DeviceProfile(name="two", threads=2, warmup=2, iters=5), store)
    assert not hit and store.count() == 3


def _writer(path: str, worker: int, n: int) -> None:
    store = LatencyStore(path)
    rows = {f"block{worker}-{i}": (float(i), 0.1) for i in range(n)}
    for key, value in rows.items():  # one transaction per row: maximal contention
        store.put_blocks("fp", {"worker": worker}, {key: value})
        store.put_blocks("fp", {"worker": worker}, {"shared": (float(worker), 0.0)})


def test_concurrent_writers_from_two_processes(tmp_path):
    path = str(tmp_path / "latency.sqlite")
    LatencyStore(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w, 150)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    blocks = LatencyStore(path).get_blocks("fp")
    assert len(blocks) == 301  # 2 x 150 own rows + one shared key, nothing lost or doubled
    assert blocks["shared"] in (0.0, 1.0)  # the first writer's value, whole
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _opener(path: str, barrier, failures) -> None:
    barrier.wait()  # every process opens the new store at the same moment
    try:
        LatencyStore(path)
    except ValueError as err:
        failures.put(str(err))


def test_many_processes_creating_one_store_at_once(tmp_path):
    """Search workers started together each open the (new) latency store: switching a new file
    to WAL is refused at once ("database is locked") while another process holds it, which
    failed a four-worker search; 2 of 30 rounds of 6 processes failed before the retry."""
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    for round_ in range(20):
        path = str(tmp_path / f"latency{round_}.sqlite")
        barrier = context.Barrier(6)
        openers = [
            context.Process(target=_opener, args=(path, barrier, failures)) for _ in range(6)
        ]
        for process in openers:
            process.start()
        for process in openers:
            process.join(timeout=120)
            assert process.exitcode == 0
        assert failures.empty(), failures.get()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_store_is_a_clear_error(tmp_path):
    path = tmp_path / "latency.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="latency.sqlite: not a usable latency store"):
        LatencyStore(path)
