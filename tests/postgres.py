"""A throwaway PostgreSQL server on loopback for the many-workers tests (Debian's package;
`.ci/run` installs it when missing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    # Debian puts the server outside PATH, one folder per major version (newest first)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: -int(p.parent.name))
    for folder in (*debian, Path("/usr/local/bin")):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _pg_driver() -> str:
    """SQLAlchemy 2.1 defaults `postgresql://` to psycopg 3; name whichever driver exists."""
    for module in ("psycopg", "psycopg2"):
        try:
            __import__(module)
        except ImportError:
            continue
        return module
    pytest.skip("PostgreSQL test needs a driver: pip install 'psycopg[binary]' or psycopg2-binary")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on loopback (run as user `postgres` when we are root)."""
    driver = _pg_driver()
    folder = _pg_bin()
    if folder is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="mv2pg-", dir="/tmp")
    if os.geteuid() == 0:  # postgres refuses to run as root
        has_user = subprocess.run(["id", "postgres"], capture_output=True).returncode == 0
        if shutil.which("runuser") is None or not has_user:
            pytest.skip("running as root needs a 'postgres' user and runuser")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, port = f"{root}/data", _free_port()
    run = lambda *cmd: subprocess.run(prefix + list(cmd), check=True, capture_output=True)  # noqa: E731
    run(str(folder / "initdb"), "-D", data, "-U", "mv2", "--auth=trust")
    options = f"-p {port} -k {root} -h 127.0.0.1"
    run(str(folder / "pg_ctl"), "-D", data, "-o", options, "-l", f"{root}/log", "-w", "start")
    try:
        run(str(folder / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mv2", "study")
        yield f"postgresql+{driver}://mv2@127.0.0.1:{port}/study"
    finally:
        run(str(folder / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
