"""The store's two named records, and the study and trial attributes they are kept as.

Private to `mv2search.study.store` (import the records from there): with the store, the only
code that knows the storage keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial

from mv2search.study.objectives import Budget, Objective, Objectives

__all__: list[str] = []  # private: see mv2search.study.store

_DIRECTIONS = {"max": "maximize", "min": "minimize"}  # Objective.direction -> Optuna's


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study as the outputs, plots, loggers and reports read it."""

    number: int  # Optuna's trial number within the study
    state: str  # COMPLETE, FAIL, RUNNING (Optuna's `TrialState` name)
    signature: str  # `ArchSpec.signature` of its spec
    seed: int | None  # the training seed
    values: tuple[float, ...] | None  # objective values in the study's order (COMPLETE only)
    metrics: Mapping[str, float]  # every metric the evaluator computed (empty until finished)
    reason: str | None  # why a FAIL trial failed (`WORKER_DIED` for a dead worker)
    datetime_start: datetime | None
    datetime_complete: datetime | None
    wall_time_s: float | None  # seconds from the claim to the end
    spec: dict[str, Any] | None  # `ArchSpec.to_dict()`
    x: tuple[float, ...] | None  # the encoded spec (`d`)
    code_version: str | None  # git commit of the worker
    host: str | None
    pid: int | None
    rung: int = 0  # its rung in a multi-fidelity study (each rung is its own trial)
    steps: int | None = None  # the training steps of that rung
    curve: tuple[tuple[float, float], ...] = ()  # (step, accuracy) of the run's evaluations

    @property
    def complete(self) -> bool:
        """COMPLETE with objective values."""
        return self.state == "COMPLETE" and self.values is not None


@dataclass(frozen=True)
class StudySettings:
    """What a study is created with, stored once and required to match on every reopen.

    `objectives` carries the names, directions, reference point and budgets; the rest is what
    the search's evaluator scores with, in the plain form the store keeps (the trainer and data
    options as dicts: `mv2search.search.settings.rebuild_study` turns them back into configs).
    """

    objectives: Objectives
    space: dict[str, Any] = field(default_factory=dict)  # the search space mapping
    optimizer: str = ""  # the optimizer's name (group `optimizer`)
    device: str = ""  # the latency device profile's name
    latency: str = "measured"  # measured or predicted
    resolution_scale: float = 1.0  # proxy training at round(image_size x scale) px
    trainer: dict[str, Any] = field(default_factory=dict)  # `TrainerConfig` as a dict
    data_source: str = ""  # `embedded` or an image-folder root
    data_options: dict[str, Any] = field(default_factory=dict)  # `DataOptions` as a dict
    seed: int = 0  # proposals and proxy training
    rungs: tuple[int, ...] = ()  # training steps of each rung (empty: one fidelity)
    eta: int = 2  # successive halving: the top 1/eta of a rung is promoted
    # None: accuracy by proxy training; {"mode": "supernet", <evaluator.supernet>}: by the
    # subnets of a trained supernet (stored only then, so older studies reopen unchanged)
    accuracy: dict[str, Any] | None = None
    code_version: str | None = field(default=None, compare=False)  # set by the store

    @property
    def directions(self) -> list[str]:
        """Optuna's direction of each objective, in order."""
        return [_DIRECTIONS[o.direction] for o in self.objectives.objectives]

    def to_attrs(self) -> dict[str, Any]:
        """The study user attrs these settings are stored as (JSON values)."""
        objectives = self.objectives
        return {
            "directions": self.directions,
            "objectives": list(objectives.names),
            "reference_point": list(objectives.reference_point),
            "space": self.space,
            "optimizer": self.optimizer,
            "evaluator": {
                "metrics": list(objectives.names),
                "budgets": {b.metric: b.max_value for b in objectives.budgets},
                "device": self.device,
                "latency": self.latency,
                "resolution_scale": self.resolution_scale,
                "trainer": self.trainer,
                "data": [self.data_source, self.data_options],
                "seed": self.seed,
            }
            | ({"accuracy": self.accuracy} if self.accuracy is not None else {}),
            "fidelity": {"rungs": list(self.rungs), "eta": self.eta} if self.rungs else None,
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], where: str) -> StudySettings:
        """Read the settings a search stored with its study.

        Args:
            attrs: The study's user attrs.
            where: The folder or URL, for the error.

        Raises:
            ValueError: naming `where` when the study was not written by a search.
        """
        if "objectives" not in attrs or "evaluator" not in attrs:
            raise ValueError(f"{where}: the study was not written by search.py (no objectives)")
        attrs = upgrade_attrs(attrs)
        evaluator = attrs["evaluator"]
        inverse = {v: k for k, v in _DIRECTIONS.items()}
        names = zip(attrs["objectives"], attrs["directions"], strict=True)
        budgets = [Budget(m, float(v)) for m, v in evaluator.get("budgets", {}).items()]
        objectives = Objectives(
            [Objective(n, inverse[d]) for n, d in names], attrs["reference_point"], budgets
        )
        source, options = evaluator["data"]
        fidelity = attrs.get("fidelity") or {}
        return cls(
            objectives=objectives,
            space=attrs.get("space", {}),
            optimizer=attrs.get("optimizer", ""),
            device=evaluator["device"],
            latency=evaluator["latency"],
            resolution_scale=evaluator["resolution_scale"],
            trainer=evaluator["trainer"],
            data_source=source,
            data_options=options,
            seed=evaluator["seed"],
            rungs=tuple(int(r) for r in fidelity.get("rungs", ())),
            eta=int(fidelity.get("eta", 2)),
            accuracy=evaluator.get("accuracy"),
            code_version=attrs.get("code_version"),
        )


def upgrade_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Study attrs written before the current keys, in the current ones (the stored study is
    left as it is).

    - A depth-multiplier parameter of the space was `{name: <label>, scales: <field>}`; it is
      `{name: <field>, scale: true}` (mv2_global's `ir_depth`, `attn_depth`).
    - A study from before multi-fidelity search has no `fidelity`: one fidelity (None).
    """
    attrs = dict(attrs)
    attrs.setdefault("fidelity", None)
    space = attrs.get("space")
    if isinstance(space, dict) and isinstance(space.get("parameters"), list):
        parameters = []
        for p in space["parameters"]:
            if isinstance(p, dict) and "scales" in p:
                p = {k: v for k, v in p.items() if k != "scales"} | {
                    "name": p["scales"],
                    "scale": True,
                }
            parameters.append(p)
        attrs["space"] = {**space, "parameters": parameters}
    return attrs


def trial_record(t: FrozenTrial, reason: str | None) -> TrialRecord:
    """The record of an Optuna trial of ours (`reason`: its failure reason, if any)."""
    attrs = t.user_attrs
    x = attrs.get("x")
    return TrialRecord(
        number=t.number,
        state=t.state.name,
        signature=attrs["signature"],
        seed=attrs.get("seed"),
        values=None if t.values is None else tuple(t.values),
        metrics=dict(attrs.get("metrics") or {}),
        reason=reason,
        datetime_start=t.datetime_start,
        datetime_complete=t.datetime_complete,
        wall_time_s=attrs.get("wall_time_s"),
        spec=attrs.get("spec"),
        x=None if x is None else tuple(x),
        code_version=attrs.get("code_version"),
        host=attrs.get("host"),
        pid=attrs.get("pid"),
        rung=int(attrs.get("rung", 0)),
        steps=attrs.get("steps"),
        curve=tuple((float(s), float(a)) for s, a in attrs.get("curve") or ()),
    )
