"""The outcome of a training run, success or failure, as a plain record the search can store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TrainResult", "STATUSES"]

STATUSES = ("ok", "diverged", "oom")


@dataclass(frozen=True)
class TrainResult:
    """Metrics of a finished run, or why it stopped.

    Accuracies are fractions in [0, 1] on the validation split, from the EMA weights when EMA is
    on, else from the trained weights. A failed run (`status` other than `ok`) keeps the metrics of
    its last completed evaluation, or `None`.
    """

    status: str  # one of STATUSES
    reason: str  # human-readable cause for a failure, or the budget that ended the run
    top1: float | None = None
    top5: float | None = None
    val_loss: float | None = None  # cross-entropy without label smoothing
    train_loss: float | None = None  # mean training loss of the last epoch
    epochs: float = 0.0  # completed epochs (fractional when a step or time cap cut one short)
    steps: int = 0  # optimizer steps taken
    wall_s: float = 0.0  # training + evaluation seconds, summed over resumed sessions
    images_per_s: float = 0.0  # training images per second, all processes together
    skipped_images: int = 0  # undecodable images skipped while training (rank 0's count)
    skipped_paths: list[str] = field(default_factory=list)  # the first of them, for the report
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per evaluation
    run_dir: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run completed its budget."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    def at_step(self, step: int) -> TrainResult:
        """This result as it stood at `step` (a run measured in steps, scored there).

        Raises:
            ValueError: when the run has no evaluation at `step`.
        """
        rows = [row for row in self.history if row["step"] == step]
        if not rows:
            raise ValueError(f"{self.run_dir}: no evaluation at step {step} in this run")
        row = rows[-1]
        prefix = "ema_" if "ema_top1" in row else ""
        return TrainResult(
            status=self.status if row.get(f"{prefix}top1") is not None else "diverged",
            reason=f"scored at step {step} of a longer run",
            top1=row.get(f"{prefix}top1"),
            top5=row.get(f"{prefix}top5"),
            val_loss=row.get(f"{prefix}loss"),
            train_loss=row.get("train_loss"),
            epochs=row.get("epoch", 0.0),
            steps=step,
            wall_s=row.get("wall_s", 0.0),
            images_per_s=row.get("images_per_s", 0.0),
            skipped_images=row.get("skipped_images", 0),
            history=[r for r in self.history if r["step"] <= step],
            run_dir=self.run_dir,
        )

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> TrainResult:
        """Rebuild a result from `to_dict` output."""
        return cls(**value)
