"""A claimed trial and its heartbeat thread. Private to `mv2search.study.store`."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from optuna.storages import BaseStorage

__all__: list[str] = []

_LOG = logging.getLogger(__name__)


class Heartbeat:
    """Records a heartbeat for `trial_id` every `interval_s` seconds in a daemon thread.

    Args:
        storage: The SQL storage holding the trial.
        trial_id: The trial.
        interval_s: Seconds between heartbeats.
    """

    def __init__(self, storage: BaseStorage, trial_id: int, interval_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(storage, trial_id, interval_s), daemon=True
        )
        self._thread.start()

    def _run(self, storage: BaseStorage, trial_id: int, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                storage.record_heartbeat(trial_id)
            except Exception as err:  # a missed beat is not fatal; a long outage makes it stale
                _LOG.warning("heartbeat of trial %d failed: %s", trial_id, err)

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        self._thread.join()


@dataclass
class TrialHandle:
    """A RUNNING trial held by this worker; pass it to `StudyStore.complete` or `.fail`.

    Attributes:
        trial_id: Optuna's storage id.
        number: Optuna's trial number within the study.
        signature: `ArchSpec.signature` of the claimed spec.
        seed: The training seed stored with the trial.
        started: `time.monotonic()` at the claim.
    """

    trial_id: int
    number: int
    signature: str
    seed: int
    started: float
    heartbeat: Heartbeat | None = field(default=None, repr=False, compare=False)
    rung: int = 0  # the rung of a multi-fidelity study

    def elapsed(self) -> float:
        """Seconds since the claim (the trial's wall time)."""
        return time.monotonic() - self.started

    def stop(self) -> None:
        """Stop the heartbeat (before the trial is finished)."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
