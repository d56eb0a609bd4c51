"""Opening a study store: URL resolution, the Optuna storage, study metadata checks.

Private to `mv2search.study.store`.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from mv2search.study._store_records import upgrade_attrs

__all__: list[str] = []

_SQLITE_MAGIC = b"SQLite format 3\x00"
_RESERVED = ("code_version", "x_names", "x_bounds")  # written by the store, not compared


def resolve_url(name: str, url: str | None, runs_dir: str | Path) -> str:
    """The storage URL: `url`; for None or `sqlite`, `sqlite:///<runs_dir>/<name>/study.db`; for
    `journal`, `journal:<runs_dir>/<name>/study.journal` (folder created)."""
    if url in (None, "sqlite", "journal"):
        folder = Path(runs_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        if url == "journal":
            return f"journal:{folder / 'study.journal'}"
        return f"sqlite:///{folder / 'study.db'}"
    if not url.startswith(("sqlite:///", "journal:", "postgresql")):
        raise ValueError(
            f"storage.url: {url!r} is not supported; use sqlite, journal, sqlite:///<file>, "
            "journal:<file> or postgresql://user@host:port/db"
        )
    path = local_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


def local_path(url: str) -> Path | None:
    """The file behind a `sqlite:///` or `journal:` URL; None for a server URL."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    if url.startswith("journal:"):
        return Path(url[len("journal:") :].removeprefix("//"))
    return None


def build_storage(url: str, heartbeat_s: float) -> optuna.storages.BaseStorage:
    """The Optuna storage for `url`; heartbeats on SQL storages, `3 x heartbeat_s` grace.

    Raises:
        ValueError: naming the file when it exists but is not a readable study store (the file is
            left untouched).
    """
    path = local_path(url)
    if path is not None and path.exists() and path.stat().st_size > 0:
        if url.startswith("sqlite:///") and path.read_bytes()[:16] != _SQLITE_MAGIC:
            raise ValueError(f"{path}: not an SQLite study store (left untouched)")
    try:
        if url.startswith("journal:"):
            return JournalStorage(JournalFileBackend(str(path)))
        # SQLite: wait for the other workers' write locks instead of failing at once.
        kwargs: dict[str, Any] = (
            {"connect_args": {"timeout": 60}} if path is not None else {"pool_pre_ping": True}
        )
        return _rdb_storage(url, kwargs, heartbeat_s)
    except Exception as err:
        where = path if path is not None else url
        raise ValueError(f"{where}: cannot open the study store (left untouched): {err}") from err


def _rdb_storage(url: str, kwargs: dict[str, Any], heartbeat_s: float) -> RDBStorage:
    """An `RDBStorage`, retried: workers starting together on a new database race to create
    its tables (PostgreSQL refuses the second `CREATE TYPE`); the loser finds them next time."""
    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5.0
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=kwargs,
                    heartbeat_interval=max(1, round(heartbeat_s)),
                    grace_period=max(3, round(3 * heartbeat_s)),
                )
        except sqlalchemy.exc.DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def check_metadata(study: optuna.Study, attrs: dict[str, Any]) -> None:
    """Write the study's settings (`StudySettings.to_attrs()`) on first open; on reopen, require
    them to be the same.

    Raises:
        ValueError: naming the study and the first differing key.
    """
    wanted = json.loads(json.dumps(dict(attrs)))
    stored = upgrade_attrs(study.user_attrs)
    if "directions" not in stored:
        for key, value in wanted.items():
            study.set_user_attr(key, value)
        study.set_user_attr("code_version", code_version())
        return
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != wanted["directions"]:
        raise ValueError(
            f"study {study.study_name!r}: directions {wanted['directions']} differ from the "
            f"stored {stored_directions}"
        )
    known = set(stored) - set(_RESERVED)
    for key in sorted(known | set(wanted)):
        if stored.get(key) != wanted.get(key):
            raise ValueError(
                f"study {study.study_name!r}: metadata {key!r} is {wanted.get(key)!r} here but "
                f"{stored.get(key)!r} in the store; use another study name or the same settings"
            )


@functools.cache
def code_version() -> str:
    """The git commit of this checkout (`+dirty` with uncommitted changes), or "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
