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
from optuna.storages import RDBStorage

from mv2search.study._store_journal import open_journal
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
            left untouched); for a journal with a torn tail, also where its complete records end
            and the `mv2search repair-journal` command.
    """
    path = local_path(url)
    if path is not None and path.exists() and path.stat().st_size > 0:
        if url.startswith("sqlite:///") and path.read_bytes()[:16] != _SQLITE_MAGIC:
            raise ValueError(f"{path}: not an SQLite study store (left untouched)")
    try:
        if url.startswith("journal:"):
            return open_journal(path)  # refuses a torn tail before Optuna reads or appends
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


def check_metadata(study: optuna.Study, attrs: dict[str, Any], replaceable: bool) -> bool:
    """Write the study's settings (`StudySettings.to_attrs()`) on first open; on reopen, require
    them to be the same, unless the study holds no finished trial (`replaceable`): then the new
    settings replace the old.

    Args:
        study: The opened study.
        attrs: The settings to store or compare.
        replaceable: The study holds no finished trial (nothing would be lost).

    Returns:
        Whether the study must be created again: its directions differ and it is replaceable
        (Optuna keeps a study's directions for good).

    Raises:
        ValueError: naming the study and only the settings that differ, with both values.
    """
    wanted = json.loads(json.dumps(dict(attrs)))
    stored = upgrade_attrs(study.user_attrs)
    if "directions" not in stored or replaceable:
        stored_directions = [d.name.lower() for d in study.directions]
        if replaceable and stored_directions != wanted["directions"]:
            return True
        for key, value in wanted.items():
            study.set_user_attr(key, value)
        study.set_user_attr("code_version", code_version())
        return False
    changed = settings_diff(stored, wanted)
    if changed:
        shown = "; ".join(changed[:8]) + ("; ..." if len(changed) > 8 else "")
        raise ValueError(
            f"study {study.study_name!r} holds finished trials made with other settings: "
            f"{shown}. Use the same settings to resume it, or another study name (study=...)"
        )
    return False


def settings_diff(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """`"<key> is <wanted> here but <stored> in the store"` for every leaf that differs
    (dotted keys, `[i]` for list entries; the store's own keys are not compared)."""
    flat_stored, flat_wanted = _leaves(stored, ""), _leaves(wanted, "")
    keys = (set(flat_stored) | set(flat_wanted)) - {k for k in flat_stored if _reserved(k)}
    return [
        f"{key} is {_show(flat_wanted, key)} here but {_show(flat_stored, key)} in the store"
        for key in sorted(keys, key=_natural)
        if flat_stored.get(key, _ABSENT) != flat_wanted.get(key, _ABSENT)
    ]


_ABSENT = object()


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_leaves(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _reserved(key: str) -> bool:
    return key.split(".")[0].split("[")[0] in _RESERVED


def _show(flat: dict[str, Any], key: str) -> str:
    return "(absent)" if key not in flat else repr(flat[key])


def _natural(key: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in key.replace("[", ".").replace("]", "").split(".")]


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
