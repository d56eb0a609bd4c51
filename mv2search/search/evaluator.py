"""Scoring one candidate: exact cost, device latency and proxy accuracy (method.md 2).

The objectives own the budgets (`Objectives.is_feasible`): a candidate over budget is never
proposed, so the evaluator only scores. Order, cheapest first:

1. exact metrics from the spec (`gmacs`, `mparams`, microseconds);
2. `latency_ms` on the device profile: measured (cached by spec signature and device fingerprint
   in the latency store) or predicted from the profile's block table (missing blocks measured
   once and stored);
3. `accuracy`: proxy training with the study's trainer at `round(image_size x resolution_scale)`
   pixels. The run folder is named by the spec signature and a hash of everything that changes
   the result, so a finished run is read back instead of retrained (a cache across studies) and
   a killed one resumes from its checkpoint. With `evaluator.accuracy=supernet` the candidate is
   not trained: its subnet inherited from the study's supernet is scored after re-estimating its
   BatchNorm statistics (`mv2search.search.supernet_score`; `score_s` is its seconds).

Only the metrics the objectives need are computed (exact ones always are: they cost nothing).
A failure (a diverged or out-of-memory run, an error in measuring) raises `EvaluationFailed`
with its reason; the search records it as a failed trial and goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.cost.store import LatencyStore, cached_latency
from mv2search.data import DataSplits, build_datasets, source_identity
from mv2search.search.settings import (
    ACCURACY_MODES,
    LATENCY_MODES,
    EvaluatorConfig,
    TrainingSetup,
)
from mv2search.search.supernet_score import SupernetScorer, supernet_recipe
from mv2search.study.objectives import Budget, exact_metrics
from mv2search.train import TrainerConfig, train
from mv2search.train.distributed import resolve_device
from mv2search.train.result import TrainResult

__all__ = ["EvaluationFailed", "Evaluator", "proxy_resolution"]


class EvaluationFailed(RuntimeError):
    """A candidate could not be scored; the message is the reason stored with the trial."""


def proxy_resolution(image_size: int, scale: float) -> int:
    """The proxy training resolution: `image_size x scale` rounded to a multiple of 8, >= 32."""
    return max(32, 8 * round(image_size * scale / 8))


class Evaluator:
    """Scores specs for one study (see the module docstring).

    Args:
        metrics: Names of the metrics the objectives need.
        training: The proxy recipe, the data it trains on and the seed.
        device: The latency device profile.
        settings: Latency mode, latency store, resolution scale, torch device.
        runs_dir: Root of the training runs (`<runs_dir>/train/`), of the supernet runs
            (`<runs_dir>/supernet/`) and the default latency store.
        space: The study's search-space mapping (needed by `accuracy=supernet` only).
        budgets: The study's budgets (the supernet of `accuracy=supernet` trains within them).

    Raises:
        ValueError: for an unknown latency or accuracy mode, a non-positive resolution scale,
            an invalid `evaluator.supernet` recipe, or `accuracy=supernet` without a space.
    """

    def __init__(
        self,
        metrics: tuple[str, ...],
        training: TrainingSetup,
        device: DeviceProfile,
        settings: EvaluatorConfig,
        runs_dir: str | Path = "runs",
        *,
        space: Mapping[str, Any] | None = None,
        budgets: Sequence[Budget] = (),
    ) -> None:
        if settings.latency not in LATENCY_MODES:
            raise ValueError(
                f"evaluator.latency: {settings.latency!r}; allowed: {list(LATENCY_MODES)}"
            )
        if not settings.resolution_scale > 0:
            raise ValueError(
                f"evaluator.resolution_scale: expected > 0, got {settings.resolution_scale}"
            )
        self.metrics, self.training, self.device = tuple(metrics), training, device
        self.settings, self.runs_dir = settings, Path(runs_dir)
        store_path = settings.latency_store or self.runs_dir / "latency.sqlite"
        self.latency_store = LatencyStore(store_path)
        self._splits: dict[int, DataSplits] = {}
        self.scorer: SupernetScorer | None = None  # accuracy=supernet only
        if settings.accuracy not in ACCURACY_MODES:
            raise ValueError(
                f"evaluator.accuracy: {settings.accuracy!r}; allowed: {list(ACCURACY_MODES)}"
            )
        supernet_recipe(settings)  # a bad recipe is an error whatever the accuracy mode
        if settings.accuracy == "supernet":
            if space is None:
                raise ValueError("evaluator.accuracy: 'supernet' needs the study's space")
            device = resolve_device(settings.torch_device, 0)
            self.scorer = SupernetScorer(
                space, budgets, training, settings, self.runs_dir, self._data, device
            )
        self._predictor = None
        # (step, top-1) of every evaluation of the last proxy run scored (its learning curve)
        self.last_curve: list[list[float]] | None = None

    @property
    def trainer(self) -> TrainerConfig:
        """The proxy recipe."""
        return self.training.trainer

    def __call__(self, spec: ArchSpec, steps: int | None = None) -> dict[str, float]:
        """All metrics of `spec` the study needs, in their own units.

        Args:
            spec: The candidate.
            steps: Train to this step (a rung of a multi-fidelity study); None: the trainer's
                own budget.

        Raises:
            EvaluationFailed: with the reason (diverged, out of memory, an error).
        """
        metrics = exact_metrics(spec)
        self.last_curve = None
        try:
            if "latency_ms" in self.metrics:
                metrics["latency_ms"] = self.latency_ms(spec)
            if "accuracy" in self.metrics and self.scorer is not None:
                if steps is not None:
                    raise ValueError("evaluator.accuracy: 'supernet' has no training steps")
                metrics["accuracy"], metrics["score_s"] = self.scorer.score(spec)
            elif "accuracy" in self.metrics:
                result = self.proxy_train(spec, steps)
                if not result.ok:
                    raise EvaluationFailed(f"proxy training {result.status}: {result.reason}")
                metrics["accuracy"] = float(result.top1)
                metrics["train_s"] = float(result.wall_s)  # the run's seconds up to this step
                self.last_curve = [
                    [float(r["step"]), float(r["top1"])]
                    for r in result.history
                    if r.get("top1") is not None
                ]
        except EvaluationFailed:
            raise
        except (RuntimeError, ValueError, OSError) as err:
            raise EvaluationFailed(f"{type(err).__name__}: {err}") from err
        return metrics

    def latency_ms(self, spec: ArchSpec) -> float:
        """Median latency of `spec` on the device profile, measured or predicted, milliseconds."""
        if self.settings.latency == "measured":
            return self.measured_latency_ms(spec)
        if self._predictor is None:
            from mv2search.cost.predictor import LatencyPredictor

            self._predictor = LatencyPredictor(self.device, self.latency_store)
        if self._predictor.missing([spec]):
            self._predictor.measure_blocks([spec], progress=False)
        return self._predictor.predict_us(spec) / 1e3

    def measured_latency_ms(self, spec: ArchSpec) -> float:
        """Median measured latency of the whole network, milliseconds (cached in the store)."""
        stats, _ = cached_latency(spec, self.device, self.latency_store)
        return float(stats.median_ms)

    def proxy_train(self, spec: ArchSpec, steps: int | None = None) -> TrainResult:
        """Train `spec` with the proxy recipe, or read back the finished run of the same spec.

        Args:
            spec: The candidate.
            steps: Stop at this step (a rung of a trainer measured in steps: the run's folder is
                the same for every rung, so a later rung continues it and an earlier one is read
                from its evaluations); None: the trainer's own budget.
        """
        size = proxy_resolution(spec.image_size, self.settings.resolution_scale)
        trainer = dataclasses.replace(self.trainer, image_size=size)
        if steps is not None:
            trainer = dataclasses.replace(trainer, max_steps=steps)
        run_dir = self.train_dir(spec, trainer)
        done = run_dir / "result.json"
        if done.is_file():
            result = TrainResult.from_dict(json.loads(done.read_text()))
            if steps is None or result.steps == steps or not result.ok:
                return result
            if result.steps > steps:
                return result.at_step(steps)
        data = self._data(size)
        spec = dataclasses.replace(spec, image_size=size, num_classes=data.num_classes)
        run_dir.mkdir(parents=True, exist_ok=True)
        device = resolve_device(self.settings.torch_device, 0)
        return train(spec, data, trainer, seed=self.training.seed, run_dir=run_dir, device=device)

    def train_dir(self, spec: ArchSpec, trainer: TrainerConfig) -> Path:
        """`<runs_dir>/train/<signature>-<trainer>-<hash of trainer, data and seed>` (for a
        trainer measured in steps, the same folder for every stop: `TrainerConfig.identity`)."""
        training = self.training
        identity = {
            "trainer": trainer.identity(),
            "data": [
                source_identity(training.data_source),
                dataclasses.asdict(training.data_options),
            ],
            "seed": training.seed,
        }
        text = json.dumps(identity, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return self.runs_dir / "train" / f"{spec.signature[:12]}-{trainer.name}-{digest}"

    def _data(self, image_size: int) -> DataSplits:
        if image_size not in self._splits:
            training = self.training
            options = training.data_options
            if self.trainer.subset is not None:
                options = dataclasses.replace(options, subset=self.trainer.subset)
            self._splits[image_size] = build_datasets(
                training.data_source,
                image_size,
                policy=self.trainer.augment,
                seed=training.seed,
                options=options,
            )
        return self._splits[image_size]
