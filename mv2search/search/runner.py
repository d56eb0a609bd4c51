"""One search worker: propose, claim, evaluate, record; until the study has its trials.

Run it once for a whole search, or N times (on one machine or many, sharing `storage.url`) for N
workers on one study. Each turn of the loop reads the study afresh (method.md 4):

1. a spec whose trial died with its worker (an orphan) is evaluated again first, so a killed
   search loses nothing: its partly trained run resumes from its checkpoint;
2. otherwise the optimizer sees every COMPLETE trial, the failed ones (never proposed again) and the
   RUNNING ones of all workers as pending points, and proposes one feasible candidate (budgets
   are exact: an over-budget candidate is never proposed, so it never counts);
3. the worker claims it (at most one trial per spec per study, whatever the number of workers),
   evaluates it, and records COMPLETE with its metrics or FAIL with the reason;
4. the outputs of `runs/<study>/` are rewritten (`mv2search.report.outputs`).

With `fidelity=asha` (rungs of training steps) each rung of a spec is its own trial: a new
candidate trains to rung 0, and before anything new is proposed a worker trains on any spec
that `mv2search.search.promotion` finds due for the next rung (resuming its run's checkpoint;
the claim, keyed by signature and rung, makes it happen once). The optimizer sees every rung
with its fidelity (steps / top rung's steps).

The study stops at `optimizer.n_trials` finished candidates (COMPLETE, or FAIL with a reason, at
rung 0) and, with rungs, once nothing is running and nothing is due for promotion; a worker
that finds the rest running waits for them, and takes over any that die. A claim counts
the study's finished and running trials under the study's lock (`StudyStore.claim(limit=...)`),
so any number of workers finish with exactly `n_trials`. A trial whose worker died is not
counted: it stays in the study as a FAIL row "worker died" and its spec is evaluated again (a
retry, reported as such).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.cost.validation import PredictionReport
from mv2search.data import check_source
from mv2search.files import file_lock
from mv2search.report.outputs import write_outputs
from mv2search.report.tables import summary_table
from mv2search.search.evaluator import EvaluationFailed, Evaluator
from mv2search.search.latency_check import check_front_latency
from mv2search.search.loggers import LOGGERS, StudyLogger
from mv2search.search.optimizers import budget_slack, build_optimizer
from mv2search.search.preflight import check_budgets, check_device
from mv2search.search.promotion import Promotion, RungEntry, promotable
from mv2search.search.registry import lookup
from mv2search.search.settings import (
    SearchAppConfig,
    TrainingSetup,
    build_objectives,
    study_settings,
)
from mv2search.search.space import SearchSpace
from mv2search.study.front import Front
from mv2search.study.store import WORKER_DIED, Orphan, Records, StudyStore, TrialRecord

__all__ = ["SearchOutcome", "SearchWorker", "study_name"]


@dataclass(frozen=True)
class SearchOutcome:
    """What one worker saw when the study finished."""

    study: str
    out_dir: Path
    front: Front
    n_complete: int
    n_failed: int  # FAIL trials with a reason (they count towards n_trials)
    n_retried: int  # trials whose worker died, their specs evaluated again
    n_rejected: int  # candidates this worker's optimizer skipped as over budget
    evaluated: int  # trials the workers of this command evaluated
    wall_s: float
    summary: str
    # predicted vs measured latency of the front (`evaluator.latency=predicted` only)
    latency_check: PredictionReport | None = None
    workers: int = 1  # worker processes of this command (`workers=`)
    # multi-fidelity: (steps, COMPLETE trials) of every rung; empty for one fidelity
    rungs: tuple[tuple[int, int], ...] = ()


def study_name(cfg: SearchAppConfig, space: SearchSpace) -> str:
    """`cfg.study`, or `<space>-<objectives>-<optimizer>-s<seed>`."""
    return cfg.study or f"{space.name}-{cfg.objectives.name}-{cfg.optimizer.name}-s{cfg.seed}"


class SearchWorker:
    """A worker on one study (see the module docstring); build it, then `run()`.

    Args:
        cfg: The composed config (`space` and `device` as plain mappings).

    Raises:
        ValueError: for an invalid space, objective, budget, device, evaluator setting or
            storage, or a study stored with different settings (naming the field or file).
    """

    def __init__(self, cfg: SearchAppConfig) -> None:
        self.cfg = cfg
        self.space = SearchSpace.from_dict(dict(cfg.space), source="space")
        self.objectives = build_objectives(cfg.objectives)
        self.name = study_name(cfg, self.space)
        self.out_dir = Path(cfg.runs_dir) / self.name
        options = cfg.data.options.under(cfg.runs_dir)
        cfg.fidelity.check()
        self.rungs = tuple(cfg.fidelity.rungs)
        trainer = cfg.fidelity.trainer(cfg.trainer)
        training = TrainingSetup(trainer, cfg.data.source, options, cfg.seed)
        device = _device(cfg.device)
        if cfg.evaluator.accuracy == "supernet" and self.rungs:
            raise ValueError(
                "evaluator.accuracy: 'supernet' scores without training, so it has no rungs; "
                "allowed with fidelity.rungs: ['train'] (or fidelity=single)"
            )
        self.evaluator = Evaluator(
            self.objectives.names,
            training,
            device,
            cfg.evaluator,
            cfg.runs_dir,
            space=dict(cfg.space),
            budgets=self.objectives.budgets,
        )
        self.n_rejected = 0  # candidates the optimizer met over a budget
        # everything that can be refused is checked before the study is created or opened
        if "accuracy" in self.objectives.names:
            check_source(cfg.data.source, options, cfg.seed)
        check_budgets(self.space, self.objectives)
        check_device(device, self.objectives.names, cfg.evaluator.torch_device)
        self.optimizer = build_optimizer(
            cfg.optimizer,
            self.space,
            self.objectives,
            cfg.seed,
            self._feasible,
            budget_slack(self.space, self.objectives),  # the exact budgets, for Optuna's samplers
        )
        self._logger_class = lookup(LOGGERS, cfg.logger.name, "logger.name")
        self.settings = study_settings(cfg, self.objectives, training, device.name)
        self.logger = StudyLogger(cfg.logger, self.name, self.out_dir, self.objectives, {})
        self.store = StudyStore.open(
            self.name,
            cfg.storage.url,
            settings=self.settings,
            x_names=self.space.names,
            x_bounds=self.space.bounds.tolist(),
            runs_dir=cfg.runs_dir,
            heartbeat_s=cfg.storage.heartbeat_s,
        )

    def make_logger(self) -> StudyLogger:
        """The configured logger of this worker (`logger` group), given the study's settings."""
        config = self.settings.to_attrs()
        return self._logger_class(self.cfg.logger, self.name, self.out_dir, self.objectives, config)

    def _feasible(self, x: torch.Tensor) -> bool:
        ok = self.objectives.is_feasible(self.space.decode(x))
        self.n_rejected += not ok
        return ok

    # ------------------------------------------------------------------------------------ loop
    def run(self, progress: bool | None = None) -> SearchOutcome:
        """Work on the study until it has `optimizer.n_trials` finished trials.

        Args:
            progress: Show a bar over trials (None: only on a terminal).

        Returns:
            The outcome, with the front and its summary table.
        """
        start, evaluated = time.monotonic(), 0
        target = self.cfg.optimizer.n_trials
        self.logger = self.make_logger()
        records = self.store.history()
        bar = tqdm(
            total=target,
            initial=min(records.n_finished, target),
            unit="trial",
            desc=self.name,
            disable=None if progress is None else not progress,
        )
        while True:
            due = self._promotions(records)
            n_running = records.x_pending.shape[0]
            if records.n_finished >= target and not due and not records.orphans:
                if not self.rungs or n_running == 0:
                    break
            if records.orphans:
                evaluated += self._evaluate_orphan(records.orphans[0])
            elif due:
                evaluated += self._promote(due[0], records)
            elif records.n_finished + self._n_new_running(records) >= target:
                time.sleep(min(self.cfg.storage.heartbeat_s, 5.0))  # the rest is running
            else:
                evaluated += self._propose_and_evaluate(records)
            records = self.store.history()
            bar.update(min(records.n_finished, target) - bar.n)
            bar.set_postfix_str(self._postfix(records))
        bar.close()
        _, front = self._write_outputs()
        latency_check = check_front_latency(self.evaluator, front.records, self.out_dir)
        self.logger.finish()
        return SearchOutcome(
            study=self.name,
            out_dir=self.out_dir,
            front=front,
            n_complete=self.store.n_complete,
            n_failed=len(records.x_failed),
            n_retried=sum(reason == WORKER_DIED for _, reason in records.failed),
            n_rejected=self.n_rejected,
            evaluated=evaluated,
            wall_s=time.monotonic() - start,
            summary=summary_table(front, self.objectives),
            latency_check=latency_check,
            rungs=tuple(
                (steps, sum(r == k for r in records.rungs)) for k, steps in enumerate(self.rungs)
            ),
        )

    def _propose_and_evaluate(self, records: Records) -> int:
        X = torch.cat([records.x, records.x_failed])
        failed = torch.full((records.x_failed.shape[0], self.objectives.m), float("nan"))
        Y = torch.cat([self.objectives.to_max(records.values), failed.double()])
        started = time.perf_counter()
        if self.rungs:
            x = self.optimizer.propose(X, Y, records.x_pending, 1, fidelity=self._fidelity(records))
        else:
            x = self.optimizer.propose(X, Y, records.x_pending, 1)
        propose_s = time.perf_counter() - started
        if x.shape[0] == 0:
            raise RuntimeError(
                f"study {self.name!r}: the space has no feasible candidate left to propose "
                f"({records.n_finished} finished); lower optimizer.n_trials or relax the budgets"
            )
        return self._evaluate(self.space.decode(x[0]), x[0], propose_s=propose_s)

    # ------------------------------------------------------------------------------ fidelity
    def _promotions(self, records: Records) -> list[Promotion]:
        """The promotions due now (none for one fidelity)."""
        if not self.rungs:
            return []
        values = self.objectives.to_max(records.values)
        entries = [
            RungEntry(sig, records.rung_of(i), tuple(values[i].tolist()), records.numbers[i])
            for i, sig in enumerate(records.signatures)
        ]
        reference = self.objectives.to_max(
            torch.tensor([self.objectives.reference_point], dtype=torch.float64)
        )[0].tolist()
        return promotable(
            entries, self.cfg.fidelity.eta, len(self.rungs) - 1, records.taken, reference
        )

    def _promote(self, promotion: Promotion, records: Records) -> int:
        i = next(
            i
            for i, sig in enumerate(records.signatures)
            if sig == promotion.signature and records.rung_of(i) == promotion.rung - 1
        )
        spec = self.space.decode(records.x[i])
        return self._evaluate(spec, records.x[i], promotion.rung)

    def _evaluate_orphan(self, orphan: Orphan) -> int:
        spec = ArchSpec.from_dict(orphan.spec)
        return self._evaluate(spec, torch.tensor(orphan.x), orphan.rung)

    def _n_new_running(self, records: Records) -> int:
        """Running rung-0 trials (new candidates; all running trials for one fidelity)."""
        n_running = records.x_pending.shape[0]
        if not self.rungs:
            return n_running
        return n_running - sum(r > 0 for r in records.pending_rungs)

    def _fidelity(self, records: Records) -> torch.Tensor:
        """The fidelity of each row the optimizer sees: rung steps / top rung steps (failed
        rows: the rung they failed at)."""
        top = self.rungs[-1]
        rungs = [records.rung_of(i) for i in range(records.x.shape[0])]
        rungs += list(records.failed_rungs) or [0] * records.x_failed.shape[0]
        return torch.tensor([self.rungs[r] / top for r in rungs], dtype=torch.float64)

    # ---------------------------------------------------------------------------- evaluation
    def _evaluate(
        self, spec: ArchSpec, x: torch.Tensor, rung: int = 0, propose_s: float | None = None
    ) -> int:
        """Claim and evaluate one spec (at `rung`); 0 when another worker holds it. A proposed
        spec's metrics also hold the seconds its proposal took (`propose_s`)."""
        steps = self.rungs[rung] if self.rungs else None
        handle = self.store.claim(
            spec, x, self.cfg.seed, limit=self.cfg.optimizer.n_trials, rung=rung, steps=steps
        )
        if handle is None:
            return 0
        try:
            metrics = self.evaluator(spec, steps)
        except EvaluationFailed as err:
            self.store.fail(handle, str(err))
        except BaseException:
            # Ctrl-C or a crash: the spec is an orphan, evaluated again when the search resumes
            self.store.fail(handle, WORKER_DIED)
            raise
        else:
            values = [metrics[name] for name in self.objectives.names]
            if propose_s is not None:
                metrics = {**metrics, "propose_s": propose_s}
            self.store.complete(handle, metrics, values, curve=self.evaluator.last_curve)
        records, front = self._write_outputs()
        record = next(r for r in records if r.number == handle.number)
        self.logger.log_trial(record, records, front.records, front.trace)
        return 1

    def _write_outputs(self) -> tuple[list[TrialRecord], Front]:
        """Rebuild `runs/<study>/` from the store. Workers sharing the folder take turns, each
        reading the store inside its turn, so the last writer has the newest snapshot and no
        worker removes a Pareto file that another has just written."""
        with file_lock(self.out_dir / ".outputs.lock"):
            records = self.store.records()
            return records, write_outputs(self.out_dir, records, self.objectives, self.rungs)

    def _postfix(self, records: Records) -> str:
        hv = self.objectives.hypervolume(records.values) if records.values.numel() else 0.0
        return f"HV {hv:.4g}, {len(records.x_failed)} failed, {records.x_pending.shape[0]} running"


def _device(value: Any) -> DeviceProfile:
    if isinstance(value, DeviceProfile):
        return value
    try:
        fields = value if isinstance(value, dict) else dataclasses.asdict(value)
        return DeviceProfile.from_dict(fields)
    except (TypeError, ValueError) as err:
        raise ValueError(f"device: {err}") from err
