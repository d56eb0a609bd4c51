"""The study store: every trial of a search, durable and shared by many workers (STYLE.md 8).

This is the only module that knows the storage. A study is a standard Optuna study, so
optuna-dashboard opens it (`optuna-dashboard sqlite:///runs/<name>/study.db`):

- `sqlite:///runs/<name>/study.db` (default), `journal:<file>` (one machine), or
  `postgresql://user@host:port/db` (many machines, one study).
- Study user attrs: `directions`, `objectives`, `reference_point`, `space`, `optimizer`,
  `evaluator` (metrics, budgets, device, latency, resolution_scale, trainer, data, seed),
  `code_version`, `x_names`, `x_bounds`; read and written as one `StudySettings`.
- Trial user attrs: `signature`, `spec` (`ArchSpec.to_dict()`), `x` (encoded, `d`), `seed`,
  `code_version`, `host`, `pid`, and in a multi-fidelity study `rung` (its index, 0 when absent)
  and `steps` (the training steps of the rung); when finished `metrics`, `wall_time_s`, the
  `curve` (`[step, accuracy]` of every evaluation of the run so far) and, for a failure,
  `fail_reason`. Optuna itself keeps state, values and start/complete times. Read as one
  `TrialRecord` per trial.

Nothing outside this module indexes those keys: callers read the two named records.

Concurrency: `claim` creates a RUNNING trial only if no trial of the same signature and rung is
COMPLETE, FAIL with a reason, or RUNNING; so a spec is evaluated at most once per rung and study,
whatever the number of workers (a rung is its own trial: the key is the signature, and
`<signature>@<rung>` above rung 0). SQL stores make this atomic with a claim table keyed by
`(study, key)` (an `INSERT` that only one worker can win, see `_store_claims`); journal stores
with a file lock.

Crash semantics: a worker records a heartbeat every `heartbeat_s` while it holds a trial. A
RUNNING trial with no heartbeat for `3 x heartbeat_s` is stale: the next `claim` or `history`
from any worker marks it FAIL with reason `"worker died"` (Optuna `fail_stale_trials`; journal
stores instead check that the owning process on this host is gone). Its spec can then be
claimed again, and the new trial replaces it. So a killed trial is never lost (it is evaluated
again) and a spec is never completed twice; the dead attempt stays in the study as a FAIL row.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import FloatDistribution
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState, create_trial

from mv2search.arch.spec import ArchSpec
from mv2search.study._store_claims import RDBClaims, study_lock
from mv2search.study._store_open import (
    build_storage,
    check_metadata,
    code_version,
    local_path,
    resolve_url,
)
from mv2search.study._store_records import StudySettings, TrialRecord, trial_record
from mv2search.study._store_trial import Heartbeat, TrialHandle

__all__ = [
    "WORKER_DIED",
    "Orphan",
    "Records",
    "StudySettings",
    "StudyStore",
    "TrialHandle",
    "TrialRecord",
    "rung_key",
]

WORKER_DIED = "worker died"
"""The failure reason of a trial whose worker stopped sending heartbeats."""


@dataclass(frozen=True)
class Records:
    """What the optimizer and the reports need from a study.

    Attributes:
        x: `n x d` encoded specs of the COMPLETE trials, in trial order.
        values: `n x m` objective values of the same trials.
        metrics: The `n` metric dicts of the same trials.
        signatures: The `n` signatures of the same trials.
        failed: `(signature, reason)` of every FAIL trial.
        x_pending: `p x d` encoded specs of the RUNNING trials (BoTorch's `X_pending`).
        x_failed: `f x d` encoded specs of the FAIL trials with a reason (not evaluated again).
        orphans: `(spec dict, x)` of specs whose only trials died with their worker: to be
            evaluated again, before anything new is proposed.
    """

    x: torch.Tensor
    values: torch.Tensor
    metrics: list[dict[str, float]]
    signatures: list[str]
    failed: list[tuple[str, str]]
    x_pending: torch.Tensor
    x_failed: torch.Tensor
    orphans: list[Orphan]
    rungs: tuple[int, ...] = ()  # the rung of each COMPLETE row (empty: all rung 0)
    numbers: tuple[int, ...] = ()  # the trial number of each COMPLETE row
    failed_rungs: tuple[int, ...] = ()  # the rung of each row of `x_failed`
    pending_rungs: tuple[int, ...] = ()  # the rung of each row of `x_pending`
    taken: frozenset[tuple[str, int]] = frozenset()  # (signature, rung) with a live trial

    @property
    def n_finished(self) -> int:
        """Candidates that count towards a study's budget: COMPLETE, or FAIL with a reason, at
        rung 0 (a promotion is not a new candidate)."""
        done = sum(r == 0 for r in self.rungs) if self.rungs else self.x.shape[0]
        failed = sum(r == 0 for r in self.failed_rungs) if self.failed_rungs else 0
        return done + (failed if self.failed_rungs else self.x_failed.shape[0])

    def rung_of(self, i: int) -> int:
        """The rung of COMPLETE row `i`."""
        return self.rungs[i] if self.rungs else 0


@dataclass(frozen=True)
class Orphan:
    """A spec and rung whose only trials died with their worker: evaluated again first."""

    spec: dict[str, Any]
    x: list[float]
    rung: int = 0


class StudyStore:
    """One Optuna study with claim/complete/fail for many workers; build with `StudyStore.open`."""

    def __init__(
        self, study: optuna.Study, url: str, heartbeat_s: float, where: str | None = None
    ) -> None:
        self.study = study
        self._where = where or str(local_path(url) or url)
        self.url = url
        self.heartbeat_s = heartbeat_s
        # Optuna wraps an RDBStorage in a cache; write through the wrapper, test the backend.
        self._storage = study._storage
        backend = getattr(self._storage, "_backend", self._storage)
        self._sql = isinstance(backend, RDBStorage)
        self._study_id = self._storage.get_study_id_from_name(study.study_name)
        self._claims = None
        self._engine = backend.engine if self._sql else None
        path = local_path(url)
        self._lock_file = None if path is None else path.with_suffix(path.suffix + ".lock-claims")
        if self._sql:
            self._claims = RDBClaims(backend.engine, study.study_name, 3 * heartbeat_s)

    @classmethod
    def open(
        cls,
        name: str,
        url: str | None = None,
        *,
        settings: StudySettings,
        x_names: tuple[str, ...] = (),
        x_bounds: list[list[float]] | None = None,
        runs_dir: str = "runs",
        heartbeat_s: float = 10.0,
    ) -> StudyStore:
        """Create the study, or reopen it to resume.

        Args:
            name: Study name (also the folder under `runs_dir` for the default URL).
            url: `sqlite:///<file>`, `journal:<file>`, `postgresql://...`; default
                `sqlite:///<runs_dir>/<name>/study.db`.
            settings: What the study is created with; a reopen must bring the same.
            x_names: Names of the encoded coordinates (`SearchSpace.names`): trial params are
                stored under them for optuna-dashboard.
            x_bounds: `2 x d` bounds of the encoded coordinates (`SearchSpace.bounds`).
            runs_dir: Root folder of the default URL.
            heartbeat_s: Heartbeat period in seconds; a trial is stale after `3 x heartbeat_s`.

        Returns:
            The store.

        Raises:
            ValueError: naming the file if it is not a readable study store (left untouched);
                naming the study and every setting that differs from the stored, with both
                values, when it holds finished trials (a study with none takes the new
                settings: nothing is lost).
        """
        url = resolve_url(name, url, runs_dir)
        storage = build_storage(url, heartbeat_s)
        study = _create_or_load(name, url, storage, settings.directions)
        if check_metadata(study, settings.to_attrs(), _replaceable(study)):
            # nothing finished is stored, and Optuna cannot change a study's directions
            optuna.delete_study(study_name=name, storage=storage)
            study = _create_or_load(name, url, storage, settings.directions)
            check_metadata(study, settings.to_attrs(), True)
        if study.metric_names != list(settings.objectives.names):  # for optuna-dashboard
            with warnings.catch_warnings():  # "experimental" in Optuna 5.0
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(settings.objectives.names))
        if x_names and "x_names" not in study.user_attrs:
            study.set_user_attr("x_names", list(x_names))
            study.set_user_attr("x_bounds", [list(map(float, row)) for row in x_bounds or ()])
        return cls(study, url, heartbeat_s)

    @classmethod
    def read(cls, folder: str | Path, url: str | None = None) -> StudyStore:
        """Open the study of a search's output folder to read it (reports, while it runs too).

        Args:
            folder: `runs/<study>/`; the study is named after it.
            url: The storage URL when it is not the folder's `study.db` or `study.journal`
                (a PostgreSQL study).

        Returns:
            The store (`settings` as the search stored them).

        Raises:
            ValueError: naming the folder when it holds no study store, or the study is missing.
        """
        folder = Path(folder)
        if url is None:
            found = [f for f in ("study.db", "study.journal") if (folder / f).is_file()]
            if not found:
                raise ValueError(f"{folder}: no study store (study.db or study.journal) here")
            prefix = "sqlite:///" if found[0] == "study.db" else "journal:"
            url = f"{prefix}{folder / found[0]}"
        storage = build_storage(url, 10.0)
        try:
            study = optuna.load_study(study_name=folder.name, storage=storage)
        except KeyError as err:
            raise ValueError(f"{folder}: the store has no study {folder.name!r}") from err
        return cls(study, url, 10.0, where=str(folder))

    @property
    def settings(self) -> StudySettings:
        """The settings the search stored with the study.

        Raises:
            ValueError: naming the folder or URL when the study was not written by a search.
        """
        return StudySettings.from_attrs(self.study.user_attrs, self._where)

    # ------------------------------------------------------------------------------- lifecycle
    def claim(
        self,
        spec: ArchSpec,
        x: torch.Tensor,
        seed: int,
        limit: int | None = None,
        rung: int = 0,
        steps: int | None = None,
    ) -> TrialHandle | None:
        """Start a RUNNING trial for `spec` at `rung`, unless it already has a trial there or
        the study is full.

        Args:
            spec: The spec to evaluate.
            x: Its `d` encoded coordinates (`SearchSpace.encode(spec)`).
            seed: The training seed stored with the trial.
            limit: Candidates the study stops at (`n_trials`): no rung-0 trial is started once
                the finished and running ones reach it (promotions are not limited). Checked
                under the study lock, so any number of workers finish with exactly `limit`
                (None: no limit).
            rung: The rung (multi-fidelity studies); above 0, the spec must have finished the
                rung below (COMPLETE), else no trial is started.
            steps: The training steps of the rung, stored with the trial.

        Returns:
            The handle to pass to `complete`/`fail`, or None when the signature is COMPLETE,
            FAIL with a reason, or RUNNING in a live worker (see `result` for the cached one),
            or the study is full.
        """
        signature, key = spec.signature, rung_key(spec.signature, rung)
        with study_lock(self._lock_file, self._engine, self.study.study_name):
            self._fail_stale()
            if self._find(key, blocking=True) is not None:
                return None
            if rung == 0 and limit is not None and self.n_reserved() >= limit:
                return None
            if rung > 0:
                below = self._find(rung_key(signature, rung - 1), blocking=False)
                if below is None or below.state != TrialState.COMPLETE:
                    return None
            if self._claims is None:
                return self._create(spec, x, seed, rung, steps)
            owner = uuid.uuid4().hex
            if not self._claims.take(key, owner, self._reclaimable):
                return None
            handle = self._create(spec, x, seed, rung, steps)
            if not self._claims.bind(key, owner, handle.trial_id):
                self.fail(handle, "claim lost to another worker")
                return None
            return handle

    def n_reserved(self) -> int:
        """Candidates that count towards `n_trials`: rung-0 trials finished (COMPLETE, or FAIL
        with a reason) or RUNNING; a trial whose worker died does not (it is evaluated again)."""
        return sum(not _died(t) and _rung(t) == 0 for t in self._trials())

    def complete(
        self,
        handle: TrialHandle,
        metrics: dict[str, float],
        values: list[float],
        curve: list[list[float]] | None = None,
    ) -> None:
        """Finish the trial as COMPLETE with its `metrics`, objective `values` (`m`) and, for a
        trained candidate, its learning `curve` (`[step, accuracy]` pairs)."""
        handle.stop()
        self._storage.set_trial_user_attr(handle.trial_id, "metrics", _floats(metrics))
        if curve is not None:
            self._storage.set_trial_user_attr(handle.trial_id, "curve", curve)
        self._storage.set_trial_user_attr(handle.trial_id, "wall_time_s", handle.elapsed())
        self._storage.set_trial_state_values(
            handle.trial_id, TrialState.COMPLETE, [float(v) for v in values]
        )

    def fail(self, handle: TrialHandle, reason: str) -> None:
        """Finish the trial as FAIL with `reason`; its spec will not be evaluated again."""
        handle.stop()
        self._storage.set_trial_user_attr(handle.trial_id, "fail_reason", str(reason))
        self._storage.set_trial_user_attr(handle.trial_id, "wall_time_s", handle.elapsed())
        self._storage.set_trial_state_values(handle.trial_id, TrialState.FAIL)

    # --------------------------------------------------------------------------------- reading
    def result(self, signature: str, rung: int = 0) -> TrialRecord | None:
        """The finished trial of `signature` at `rung` (COMPLETE, or FAIL with a reason)."""
        trial = self._find(rung_key(signature, rung), blocking=False)
        return None if trial is None else trial_record(trial, _reason(trial))

    def history(self) -> Records:
        """The completed, failed and pending trials (after failing stale ones)."""
        self._fail_stale()
        trials = self._trials()
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        failed = [t for t in trials if _failed(t) and _reason(t) != WORKER_DIED]
        d = self._dim(trials)
        m = len(self.study.directions)
        return Records(
            x=_matrix([t.user_attrs["x"] for t in done], d),
            values=_matrix([t.values for t in done], m),
            metrics=[t.user_attrs.get("metrics", {}) for t in done],
            signatures=[t.user_attrs["signature"] for t in done],
            failed=[(t.user_attrs["signature"], _reason(t)) for t in trials if _failed(t)],
            x_pending=_matrix([t.user_attrs["x"] for t in running], d),
            x_failed=_matrix([t.user_attrs["x"] for t in failed], d),
            orphans=_orphans(trials),
            rungs=tuple(_rung(t) for t in done),
            numbers=tuple(t.number for t in done),
            failed_rungs=tuple(_rung(t) for t in failed),
            pending_rungs=tuple(_rung(t) for t in running),
            taken=frozenset((t.user_attrs["signature"], _rung(t)) for t in trials if not _died(t)),
        )

    def records(self) -> list[TrialRecord]:
        """Every trial of the study, in trial order."""
        return [trial_record(t, _reason(t)) for t in self._trials()]

    @property
    def n_complete(self) -> int:
        """Number of COMPLETE trials."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    @property
    def n_failed(self) -> int:
        """Number of FAIL trials (evaluation failures and dead workers)."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))

    # ------------------------------------------------------------------------------- internals
    def _trials(self) -> list[FrozenTrial]:
        trials = self.study.get_trials(deepcopy=False)
        return [t for t in trials if "signature" in t.user_attrs]

    def _find(self, key: str, blocking: bool) -> FrozenTrial | None:
        """The trial that blocks `key` (`rung_key`: RUNNING/COMPLETE/FAIL not by a dead
        worker)."""
        for trial in self._trials():
            if _trial_key(trial) != key:
                continue
            if trial.state == TrialState.RUNNING and not blocking:
                continue
            if trial.state in (TrialState.COMPLETE, TrialState.RUNNING):
                return trial
            if trial.state == TrialState.FAIL and _reason(trial) != WORKER_DIED:
                return trial
        return None

    def _reclaimable(self, trial_id: int) -> bool:
        trial = self._storage.get_trial(trial_id)
        return trial.state == TrialState.FAIL and _reason(trial) == WORKER_DIED

    def _create(
        self, spec: ArchSpec, x: torch.Tensor, seed: int, rung: int = 0, steps: int | None = None
    ) -> TrialHandle:
        values = [float(v) for v in torch.as_tensor(x, dtype=torch.float64).reshape(-1).tolist()]
        names = self.study.user_attrs.get("x_names")
        low, high = self.study.user_attrs.get("x_bounds", (values, values))
        params, distributions = {}, {}
        if names is not None and len(names) == len(values):
            params = dict(zip(names, values, strict=True))
            distributions = {
                k: FloatDistribution(lo, hi) for k, lo, hi in zip(names, low, high, strict=True)
            }
        template = create_trial(
            state=TrialState.RUNNING,
            params=params,
            distributions=distributions,
            user_attrs={
                "signature": spec.signature,
                "spec": spec.to_dict(),
                "x": values,
                "seed": int(seed),
                "code_version": code_version(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
            }
            | ({"rung": int(rung), "steps": steps} if rung or steps is not None else {}),
        )
        trial_id = self._storage.create_new_trial(self._study_id, template_trial=template)
        beat = None
        if self._sql:
            self._storage.record_heartbeat(trial_id)
            beat = Heartbeat(self._storage, trial_id, self.heartbeat_s)
        number = self._storage.get_trial_number_from_id(trial_id)
        started = time.monotonic()
        return TrialHandle(trial_id, number, spec.signature, int(seed), started, beat, int(rung))

    def _fail_stale(self) -> None:
        if self._sql:
            with warnings.catch_warnings():  # "experimental" in Optuna 5.0
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(self.study)
        # on this host a dead process is known at once, without waiting for its heartbeat
        self._fail_dead_local()

    def _fail_dead_local(self) -> None:
        """Fail RUNNING trials whose process on this host is gone (journal stores have no
        heartbeats; SQL stores would otherwise wait `3 x heartbeat_s`)."""
        host = socket.gethostname()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            pid = trial.user_attrs.get("pid")
            if trial.user_attrs.get("host") == host and pid is not None and not _alive(pid):
                self._storage.set_trial_user_attr(trial._trial_id, "fail_reason", WORKER_DIED)
                self._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)

    def _dim(self, trials: list[FrozenTrial]) -> int:
        names = self.study.user_attrs.get("x_names")
        if names is not None:
            return len(names)
        return len(trials[0].user_attrs["x"]) if trials else 0


def _reason(trial: FrozenTrial) -> str | None:
    """A FAIL trial's reason; one failed by Optuna's heartbeat check has none: worker died."""
    if trial.state != TrialState.FAIL:
        return None
    return trial.user_attrs.get("fail_reason", WORKER_DIED)


def _create_or_load(
    name: str, url: str, storage: optuna.storages.BaseStorage, directions: list[str]
) -> optuna.Study:
    try:
        return optuna.create_study(
            study_name=name, storage=storage, directions=directions, load_if_exists=True
        )
    except (ValueError, optuna.exceptions.StorageInternalError) as err:
        where = local_path(url) or url
        raise ValueError(f"{where}: cannot open study {name!r}: {err}") from err


def _replaceable(study: optuna.Study) -> bool:
    """The study holds no finished trial and none running: every trial (if any) died with its
    worker, so new settings lose nothing."""
    return all("signature" in t.user_attrs and _died(t) for t in study.get_trials(deepcopy=False))


def _orphans(trials: list[FrozenTrial]) -> list[Orphan]:
    """Specs and rungs whose every trial is a FAIL by a dead worker, once each, in trial
    order."""
    taken = {_trial_key(t) for t in trials if not _died(t)}
    found: dict[str, Orphan] = {}
    for trial in trials:
        key = _trial_key(trial)
        if _died(trial) and key not in taken and key not in found:
            found[key] = Orphan(trial.user_attrs["spec"], trial.user_attrs["x"], _rung(trial))
    return list(found.values())


def rung_key(signature: str, rung: int) -> str:
    """The claim key of a spec at a rung: its signature at rung 0, `<signature>@<rung>`
    above."""
    return signature if rung == 0 else f"{signature}@{rung}"


def _rung(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get("rung", 0))


def _trial_key(trial: FrozenTrial) -> str:
    return rung_key(trial.user_attrs["signature"], _rung(trial))


def _died(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and _reason(trial) == WORKER_DIED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _floats(metrics: dict[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in metrics.items()}


def _matrix(rows: list[Any], width: int) -> torch.Tensor:
    if not rows:
        return torch.empty(0, width, dtype=torch.float64)
    return torch.tensor(rows, dtype=torch.float64)


def _failed(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL
