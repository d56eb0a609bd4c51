"""Claims: at most one live or finished trial per `(study, signature)`, for many workers at once.

Private to `mv2search.study.store`. Two implementations with one contract, `take(signature,
owner, reclaimable) -> bool` then `bind(signature, owner, trial_id) -> bool`:

- `RDBClaims` (SQLite, PostgreSQL): a side table `mv2search_claims` in the study's own database,
  primary key `(study_name, signature)`. `take` inserts the row (the primary key makes exactly one
  concurrent insert win) or, when the row's trial may be taken over, moves it to the new owner
  with a compare-and-swap `UPDATE ... WHERE owner = :old` (exactly one concurrent update matches).
- journal files (one machine): no table; the study lock below alone makes check-then-create
  atomic.

`study_lock` serialises every claim of a study, across processes and machines, so that "count the
study's trials, look for the signature, then create the trial" is atomic: N workers finish with
exactly `n_trials` trials. An exclusive `flock` on `<file>.lock-claims` for SQLite and journal
files (one machine), a session advisory lock (`pg_advisory_lock`) for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

from mv2search.files import file_lock

__all__: list[str] = []

_TABLE = "mv2search_claims"
_CREATE = sa.text(
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " study_name VARCHAR(512) NOT NULL, signature VARCHAR(64) NOT NULL, trial_id INTEGER,"
    " owner VARCHAR(64) NOT NULL, claimed_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (study_name, signature))"
)


class RDBClaims:
    """The claim table in the study's SQL database (see the module docstring).

    Args:
        engine: The SQLAlchemy engine of the Optuna `RDBStorage`.
        study_name: The study the claims belong to.
        grace_s: Seconds after which a claim that never got its trial may be taken over.
    """

    def __init__(self, engine: sa.Engine, study_name: str, grace_s: float) -> None:
        self.engine = engine
        self.study_name = study_name
        self.grace_s = grace_s
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    conn.execute(_CREATE)
                return
            except sa.exc.DBAPIError:  # concurrent CREATE on PostgreSQL: the other one won
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def take(self, signature: str, owner: str, reclaimable: Callable[[int], bool]) -> bool:
        """Claim `signature` for `owner`.

        Args:
            signature: The spec signature.
            owner: A fresh unique token for this attempt.
            reclaimable: Given a claimed trial id, whether that trial may be taken over (its
                worker died).

        Returns:
            True when `owner` now holds the claim.
        """
        key = {"study": self.study_name, "sig": signature}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        f"INSERT INTO {_TABLE} (study_name, signature, trial_id, owner, claimed_at)"
                        " VALUES (:study, :sig, NULL, :owner, :now)"
                    ),
                    {**key, "owner": owner, "now": time.time()},
                )
            return True
        except sa.exc.IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    f"SELECT trial_id, owner, claimed_at FROM {_TABLE}"
                    " WHERE study_name = :study AND signature = :sig"
                ),
                key,
            ).one_or_none()
        if row is None:  # the holder's row vanished (never happens: rows are not deleted)
            return False
        trial_id, old_owner, claimed_at = row
        if trial_id is None:
            stale = time.time() - claimed_at > self.grace_s
        else:
            stale = reclaimable(int(trial_id))
        if not stale:
            return False
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.text(
                    f"UPDATE {_TABLE} SET owner = :owner, trial_id = NULL, claimed_at = :now"
                    " WHERE study_name = :study AND signature = :sig AND owner = :old"
                ),
                {**key, "owner": owner, "now": time.time(), "old": old_owner},
            )
        return moved.rowcount == 1

    def bind(self, signature: str, owner: str, trial_id: int) -> bool:
        """Record the trial created for a claim; False if `owner` lost the claim meanwhile."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.text(
                    f"UPDATE {_TABLE} SET trial_id = :tid"
                    " WHERE study_name = :study AND signature = :sig AND owner = :owner"
                ),
                {"tid": trial_id, "study": self.study_name, "sig": signature, "owner": owner},
            )
        return moved.rowcount == 1


@contextlib.contextmanager
def study_lock(lock_file: Path | None, engine: sa.Engine | None, study_name: str) -> Iterator[None]:
    """Hold the study's claim lock for the `with` block (see the module docstring).

    Args:
        lock_file: The lock file beside a SQLite or journal store; None for a server.
        engine: The SQLAlchemy engine of a server store (PostgreSQL).
        study_name: The study.
    """
    if lock_file is not None:
        with file_lock(lock_file):
            yield
        return
    assert engine is not None, "a server store needs its engine"
    key = {"key": f"mv2search:{study_name}"}
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:key))"), key)
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
            conn.commit()
