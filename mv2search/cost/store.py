"""The latency store: one SQLite file with measured network latencies and per-block lookup tables.

Network latencies are keyed by (spec signature, device fingerprint key), so the same spec on the
same device is measured once, whoever asks. Block latencies (the predictor's lookup table) are keyed
by (block key, fingerprint key), and a fitted calibration by fingerprint key. Parallel workers share
the file safely: SQLite's write-ahead log, a busy timeout, and one short transaction per write
(`INSERT OR IGNORE`: the first measurement of a key wins, later ones are dropped, never mixed).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import (
    DeviceProfile,
    device_fingerprint,
    fingerprint_key,
    load_device_profile,
)
from mv2search.cost.latency import LatencyStats, measure_latency

__all__ = ["DEFAULT_STORE", "LatencyStore", "cached_latency"]

DEFAULT_STORE = Path("runs") / "latency.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS network (
    signature TEXT NOT NULL, fingerprint_key TEXT NOT NULL, median_ms REAL NOT NULL,
    stats TEXT NOT NULL, spec TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (signature, fingerprint_key));
CREATE TABLE IF NOT EXISTS block (
    block_key TEXT NOT NULL, fingerprint_key TEXT NOT NULL, median_us REAL NOT NULL,
    iqr_us REAL NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (block_key, fingerprint_key));
CREATE TABLE IF NOT EXISTS calibration (
    fingerprint_key TEXT PRIMARY KEY, params TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fingerprint (
    fingerprint_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
"""


def _use_wal(db: sqlite3.Connection, timeout_s: float = 60.0) -> None:
    """Switch the file to write-ahead logging (it stays so: later connections only check).

    The switch needs the file to itself, and SQLite reports "database is locked" at once,
    without waiting on the busy timeout, when another process is switching or creating it
    (several workers opening a new store together: 2 of 30 trials of 6 processes failed), so it
    is retried here until `timeout_s`."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class LatencyStore:
    """A SQLite latency store (created on first use; `runs/latency.sqlite` by default)."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{self.path}: not a usable latency store ({err})") from err

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=60000")
            _use_wal(db)
            yield db
        finally:
            db.close()

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # ---------------------------------------------------------------------------- networks
    def get(self, signature: str, key: str) -> LatencyStats | None:
        """The stored latency of a spec signature on a fingerprint key, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT stats FROM network WHERE signature = ? AND fingerprint_key = ?",
                (signature, key),
            ).fetchone()
        return None if row is None else LatencyStats.from_dict(json.loads(row[0]))

    def put(self, spec: ArchSpec, stats: LatencyStats) -> None:
        """Store a measured latency (the first one stored for a key is kept)."""
        key = fingerprint_key(stats.fingerprint)
        self._remember_fingerprint(key, stats.fingerprint)
        row = (
            spec.signature,
            key,
            stats.median_ms,
            json.dumps(stats.to_dict()),
            spec.to_json(),
            time.time(),
        )
        self._write("INSERT OR IGNORE INTO network VALUES (?, ?, ?, ?, ?, ?)", [row])

    def count(self, table: str = "network") -> int:
        """Number of rows in `network`, `block` or `calibration`."""
        if table not in ("network", "block", "calibration"):
            raise ValueError(f"table: {table!r}; allowed: ['network', 'block', 'calibration']")
        with self._connect() as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # ------------------------------------------------------------------------------ blocks
    def get_blocks(self, key: str) -> dict[str, float]:
        """All block latencies (microseconds) measured for a fingerprint key."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT block_key, median_us FROM block WHERE fingerprint_key = ?", (key,)
            ).fetchall()
        return dict(rows)

    def put_blocks(
        self, key: str, fingerprint: dict[str, Any], rows: dict[str, tuple[float, float]]
    ) -> None:
        """Store block latencies: `{block_key: (median_us, iqr_us)}`."""
        self._remember_fingerprint(key, fingerprint)
        now = time.time()
        self._write(
            "INSERT OR IGNORE INTO block VALUES (?, ?, ?, ?, ?)",
            [(block, key, median, iqr, now) for block, (median, iqr) in rows.items()],
        )

    def get_calibration(self, key: str) -> dict[str, float] | None:
        """The fitted calibration of a fingerprint key, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT params FROM calibration WHERE fingerprint_key = ?", (key,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put_calibration(self, key: str, params: dict[str, float]) -> None:
        """Store (replace) the calibration of a fingerprint key."""
        self._write(
            "INSERT OR REPLACE INTO calibration VALUES (?, ?, ?)",
            [(key, json.dumps(params), time.time())],
        )

    def _remember_fingerprint(self, key: str, fingerprint: dict[str, Any]) -> None:
        self._write(
            "INSERT OR IGNORE INTO fingerprint VALUES (?, ?)",
            [(key, json.dumps(fingerprint, sort_keys=True))],
        )


def cached_latency(
    spec: ArchSpec, device: str | DeviceProfile, store: LatencyStore | None = None
) -> tuple[LatencyStats, bool]:
    """The latency of `spec` on `device`, measured only if the store does not have it yet.

    Args:
        spec: The network.
        device: Profile name, YAML path or `DeviceProfile`.
        store: The store (default `runs/latency.sqlite`).

    Returns:
        The statistics and whether they came from the store (a hit).
    """
    profile = load_device_profile(device)
    store = store or LatencyStore()
    key = fingerprint_key(device_fingerprint(profile, spec.image_size))
    hit = store.get(spec.signature, key)
    if hit is not None:
        return hit, True
    stats = measure_latency(spec, profile)
    store.put(spec, stats)
    return store.get(spec.signature, key) or stats, False
