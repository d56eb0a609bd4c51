"""Train one spec on one data set: the loop, checkpoints, resume and failure as a result.

`train(spec, data, trainer)` runs AdamW with warm-up + cosine (or warm-up/stable/decay), label
smoothing, optional MixUp/CutMix and EMA, gradient clipping and bf16 autocast
(mv2search.train.optim), evaluates after every epoch, at every `eval_steps` entry and at the
end, with BatchNorm statistics re-estimated for the weights (mv2search.train.bn), and returns a
`TrainResult`.

A run measured in steps (`schedule_steps` set: a rung of a ladder) stops at `max_steps` and can
be continued: calling `train` again on its folder with a larger `max_steps` resumes from its
checkpoint and ends with the same weights and metrics as a run that went there straight (the
data order, the schedule and the evaluation points do not depend on where a run stops). Asked
for fewer steps than it has run, it answers with the evaluation it made at that step.

With a `run_dir` it checkpoints atomically every `checkpoint_every_steps` steps and at every epoch
end; calling it again on the same folder continues from the last checkpoint and ends with the same
weights and metrics as an uninterrupted run, because everything random is a function of (seed,
epoch, step, sample index) and the checkpoint holds the rest (weights, EMA, optimizer moments, step,
running sums). A non-finite loss or gradient norm ends the run with `status="diverged"`, an
out-of-memory error with `status="oom"`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from mv2search.arch import ArchSpec, build_model, load_timm_state_dict, read_checkpoint
from mv2search.data import DataSplits, derive_seed
from mv2search.data.loader import EpochSampler, build_loader, steps_per_epoch
from mv2search.train.bn import recalibrate_bn
from mv2search.train.checkpoint import load_own_checkpoint, save_checkpoint, write_json
from mv2search.train.config import TrainerConfig
from mv2search.train.distributed import DistContext, all_reduce_sum, init_distributed
from mv2search.train.evaluate import evaluate, sync_buffers
from mv2search.train.numerics import build_mixer, clip_gradients, is_oom, loss_fn, use_bf16
from mv2search.train.optim import (
    ModelEma,
    build_optimizer,
    decay_lr,
    decay_steps_for,
    lr_at,
    warmup_steps_for,
)
from mv2search.train.result import TrainResult

__all__ = ["train", "TrainRun"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
RESULT = "result.json"
MAX_SKIPPED_PATHS = 20
BN_SEED = -2  # the fixed draw of training batches that re-estimates BatchNorm statistics


def train(
    spec: ArchSpec,
    data: DataSplits,
    trainer: TrainerConfig,
    *,
    seed: int = 0,
    run_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train `spec` on `data` under `trainer`'s recipe and budget.

    Args:
        spec: The architecture; its `num_classes` is replaced by the data set's.
        data: Train and validation splits, already at the training resolution.
        trainer: Recipe and budget.
        seed: Seeds initialisation, data order, augmentation and mixing.
        run_dir: Folder for `checkpoint.pt`, `metrics.json` and `result.json`; a folder holding a
            checkpoint of the same run resumes it. None trains without files.
        device: Where to train. Under torchrun each process passes its own device.

    Returns:
        The result; failures (divergence, out of memory) are returned, not raised.

    Raises:
        ValueError: if `run_dir` holds a checkpoint of a different run.
    """
    return TrainRun(spec, data, trainer, seed=seed, run_dir=run_dir, device=device).fit()


class TrainRun:
    """The state of one run; `fit()` drives it. Use `train()` unless you need the model after."""

    def __init__(
        self,
        spec: ArchSpec,
        data: DataSplits,
        trainer: TrainerConfig,
        *,
        seed: int = 0,
        run_dir: str | Path | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.context: DistContext = init_distributed(self.device)
        self.spec = dataclasses.replace(spec, num_classes=data.num_classes)
        self.data, self.cfg, self.seed = data, trainer, seed
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.identity = {"spec": self.spec.to_dict(), "trainer": trainer.identity()}
        self.identity |= {"seed": seed, "data": data.source, "world_size": self.context.world_size}
        self.batch_size = max(trainer.batch_size // self.context.world_size, 1)
        self.steps_per_epoch = steps_per_epoch(
            len(data.train), self.batch_size, self.context.world_size
        )
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"trainer.batch_size={trainer.batch_size} exceeds the training set "
                f"({len(data.train)} images over {self.context.world_size} processes)"
            )
        if trainer.measured_in_steps:  # a rung: stop at max_steps of a fixed-length schedule
            self.schedule_steps = int(trainer.schedule_steps)
            self.total_steps = trainer.max_steps or self.schedule_steps
        else:
            self.total_steps = trainer.epochs * self.steps_per_epoch
            if trainer.max_steps is not None:
                self.total_steps = min(self.total_steps, trainer.max_steps)
            self.schedule_steps = self.total_steps
        self.scored_steps = sorted({*trainer.eval_steps, self.total_steps})
        self._build_model()
        self.progress: dict[str, Any] = {"step": 0, "train_s": 0.0, "eval_s": 0.0, "images": 0}
        self.progress |= {"loss_sum": 0.0, "loss_count": 0, "last_loss": float("nan")}
        self.progress |= {"skipped": 0, "skipped_paths": [], "history": []}
        self.finished: dict[str, Any] | None = None
        self._branching = False  # inside a decay branch: nothing of it is checkpointed
        self._restore()

    def _build_model(self) -> None:
        torch.manual_seed(self.seed)
        model = build_model(self.spec)
        if self.cfg.init_from:
            weights = read_checkpoint(self.cfg.init_from)
            head = weights.get("head.fc.weight")
            ignore_head = head is None or head.shape[0] != self.spec.num_classes
            load_timm_state_dict(model, weights, ignore_head=ignore_head)
        self.model = model.to(self.device)
        self.ema = ModelEma(self.model, self.cfg.ema_momentum) if self.cfg.ema_momentum else None
        self.wrapped: nn.Module = self.model
        if self.context.active:
            self.wrapped = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.peak_lr, weight_decay = self.cfg.peak_lr_and_decay(self.spec.width_multiplier)
        self.optimizer = build_optimizer(
            self.model, self.peak_lr, weight_decay, (self.cfg.beta1, self.cfg.beta2)
        )
        self.warmup = warmup_steps_for(
            self.schedule_steps, self.cfg.warmup_steps, self.cfg.warmup_max_fraction
        )
        self.autocast = use_bf16(self.cfg.precision, self.device)
        self.mixer = build_mixer(self.cfg, self.data.num_classes)

    # ------------------------------------------------------------------ checkpoints

    def _state(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "progress": self.progress,
            "finished": self.finished,
        }

    def _save(self) -> None:
        if self.run_dir is not None and self.context.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT, self._state())

    def _restore(self) -> None:
        if self.run_dir is None:
            return
        differs = "spec, trainer, seed, data or process count"
        state = load_own_checkpoint(self.run_dir / CHECKPOINT, self.identity, differs)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress, self.finished = state["progress"], state["finished"]
        finished_ok = self.finished is not None and self.finished["status"] == "ok"
        if finished_ok and self.progress["step"] < self.total_steps:
            self.finished = None  # a rung run continued to a later rung

    # ------------------------------------------------------------------ the loop

    def fit(self) -> TrainResult:
        """Train until the budget is spent (or resume and finish), evaluate, and report.

        Returns:
            The result; `status` is `ok`, `diverged` or `oom`.
        """
        if self.progress["step"] > self.total_steps:  # asked for an earlier rung of this run
            return self._result_at(self.total_steps)
        if self.finished is None:
            try:
                self.finished = self._fit()
            except (MemoryError, RuntimeError) as err:  # torch.OutOfMemoryError is a RuntimeError
                if not is_oom(err):
                    raise
                self.optimizer.zero_grad(set_to_none=True)  # let the caller have the memory back
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.finished = self._failure("oom", f"out of memory: {str(err).splitlines()[0]}")
            self._save()
        result = TrainResult(**self.finished, run_dir=str(self.run_dir) if self.run_dir else None)
        if self.run_dir is not None and self.context.is_main:
            write_json(self.run_dir / RESULT, result.to_dict())
        return result

    def _result_at(self, step: int) -> TrainResult:
        """The result of this run had it stopped at `step` (an evaluation it made there)."""
        rows = [row for row in self.progress["history"] if row["step"] == step]
        if not rows:
            raise ValueError(
                f"{self.run_dir}: the run is past step {step} and has no evaluation there; "
                f"its scored steps are {self.scored_steps}"
            )
        history = self.progress["history"]
        summary = self._summary(f"scored at step {step} of a longer run", rows[-1])
        summary["history"] = [row for row in history if row["step"] <= step]
        summary["steps"], summary["epochs"] = step, round(step / self.steps_per_epoch, 4)
        return TrainResult(**summary, run_dir=str(self.run_dir) if self.run_dir else None)

    def _fit(self) -> dict[str, Any]:
        while self.progress["step"] < self.total_steps:
            epoch, batch = divmod(self.progress["step"], self.steps_per_epoch)
            until = self._next_stop(epoch)
            stop = self._train_epoch(epoch, batch, until)
            if stop is not None and stop[0] == "diverged":
                return self._failure(*stop)
            if stop is not None or self._scores_at(self.progress["step"]):
                stop = self._evaluate_and_log() or stop
            self._save()
            if stop is not None and stop[0] == "diverged":
                return self._failure(*stop)
            if stop is not None:
                return self._summary(stop[1])
        history = self.progress["history"]
        if not history or history[-1]["step"] != self.progress["step"]:
            self._evaluate_and_log()  # resumed after the last step, before its evaluation
            self._save()
        return self._summary(f"budget spent: {self.progress['step']} steps")

    def _scores_at(self, step: int) -> bool:
        """Whether the run is evaluated at `step`: every epoch end, except for a run measured in
        steps, which is scored only at its scored steps (its rungs and its end)."""
        return not self.cfg.measured_in_steps or step in self.scored_steps

    def _next_stop(self, epoch: int) -> int:
        """The step of the next evaluation: the epoch's end, a scored step or the run's end."""
        step = self.progress["step"]
        later = [s for s in self.scored_steps if s > step]
        return min([(epoch + 1) * self.steps_per_epoch, self.total_steps, *later])

    def _epoch_loader(self, epoch: int, start_batch: int, num_workers: int | None = None) -> Any:
        """The training loader of `epoch` from batch `start_batch` on (the run's data order;
        `num_workers` None: the trainer's)."""
        self.data.train.set_epoch(epoch)
        sampler = EpochSampler(
            len(self.data.train),
            seed=self.seed,
            epoch=epoch,
            rank=self.context.rank,
            world_size=self.context.world_size,
            start=start_batch * self.batch_size,
        )
        return build_loader(
            self.data.train,
            self.batch_size,
            train=True,
            sampler=sampler,
            num_workers=self.cfg.num_workers if num_workers is None else num_workers,
        )

    def _train_epoch(self, epoch: int, start_batch: int, until: int) -> tuple[str, str] | None:
        """Run the epoch on to step `until` (at most its end). Returns `(status, reason)` when the
        run must stop early."""
        loader = self._epoch_loader(epoch, start_batch)
        remaining = min(self.steps_per_epoch - start_batch, until - self.progress["step"])
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=start_batch,
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            leave=False,
            disable=None if self.context.is_main else True,  # None: only on a terminal
        )
        self.wrapped.train()
        started = time.perf_counter()
        try:
            for _, (images, labels, skipped) in zip(range(remaining), loader, strict=False):
                self._note_skipped(skipped)
                stop = self._step(images, labels, started)
                started = time.perf_counter()
                bar.update(1)
                bar.set_postfix(loss=f"{self.progress['last_loss']:.3f}")
                if stop is not None:
                    return stop
        finally:
            bar.close()
        return None

    def _step(
        self, images: torch.Tensor, labels: torch.Tensor, started: float, lr: float | None = None
    ) -> tuple[str, str] | None:
        step = self.progress["step"]
        if lr is None:
            lr = lr_at(
                step,
                self.schedule_steps,
                self.warmup,
                self.peak_lr,
                self.peak_lr * self.cfg.min_lr_ratio,
                self.cfg.warmup_init_lr,
                self.cfg.schedule,
            )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        targets: torch.Tensor = labels
        if self.mixer is not None:
            # index -1: never a sample's (seed, epoch, index >= 0) stream
            generator = torch.Generator().manual_seed(derive_seed(self.seed, step, -1))
            images, targets = self.mixer(images, labels, generator)
        images = images.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.wrapped(images)
        loss = loss_fn(logits.float(), targets, self.cfg.label_smoothing)
        if not self._agree_finite(loss):
            return "diverged", f"non-finite loss ({loss.item()}) at step {step} (lr {lr:.3g})"
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = clip_gradients(self.model, self.cfg.grad_clip)
        if not torch.isfinite(norm):
            return "diverged", f"non-finite gradient norm at step {step} (lr {lr:.3g})"
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self._account(loss.item(), len(labels), started)
        if self._time_up():
            return "ok", f"time budget of {self.cfg.max_minutes} minutes spent"
        return None

    def _agree_finite(self, loss: torch.Tensor) -> bool:
        """Whether every process's loss is finite (all stop together when one is not)."""
        (bad,) = all_reduce_sum([0.0 if torch.isfinite(loss) else 1.0], self.context, self.device)
        return bad == 0

    def _time_up(self) -> bool:
        """Whether the time budget is spent on any process (all stop at the same step)."""
        if self.cfg.max_minutes is None:
            return False
        minutes = (self.progress["train_s"] + self.progress["eval_s"]) / 60
        over = float(minutes >= self.cfg.max_minutes)
        return all_reduce_sum([over], self.context, self.device)[0] > 0

    def _note_skipped(self, paths: list[str]) -> None:
        """Count undecodable images; keep the first few paths (per process) for the report."""
        self.progress["skipped"] += len(paths)
        kept = self.progress["skipped_paths"]
        kept.extend(p for p in paths if p not in kept and len(kept) < MAX_SKIPPED_PATHS)

    def _account(self, loss: float, batch: int, started: float) -> None:
        progress = self.progress
        progress["step"] += 1
        progress["train_s"] += time.perf_counter() - started
        progress["images"] += batch * self.context.world_size
        progress["loss_sum"] += loss
        progress["loss_count"] += 1
        progress["last_loss"] = loss
        step = progress["step"]
        # Epoch ends are checkpointed after their evaluation, never before it.
        every = step % self.cfg.checkpoint_every_steps == 0 and step % self.steps_per_epoch
        if every and not self._branching:
            self._save()

    # ------------------------------------------------------------------ evaluation and results

    def _evaluate_and_log(self) -> tuple[str, str] | None:
        """Score the weights as they are (after a decay branch at a scored step of a `wsd` run)
        and log the row. Returns `(status, reason)` when the decay branch diverged."""
        progress = self.progress
        row: dict[str, Any] = {
            "epoch": round(progress["step"] / self.steps_per_epoch, 4),
            "step": progress["step"],
            "train_loss": progress["loss_sum"] / max(progress["loss_count"], 1),
        }
        stop = None
        if self.cfg.schedule == "wsd" and progress["step"] in self.scored_steps:
            length = decay_steps_for(progress["step"], self.cfg.decay_fraction)
            with self._branch():
                stop = self._decay(length)
                row |= {"decay_steps": length} | self._scores(stop)
        else:
            row |= self._scores(None)
        progress = self.progress  # the branch put the run's own progress back
        row["wall_s"] = progress["train_s"] + progress["eval_s"]
        row["images_per_s"] = progress["images"] / max(progress["train_s"], 1e-9)
        row["skipped_images"] = progress["skipped"]
        progress["history"].append(row)
        progress["loss_sum"], progress["loss_count"] = 0.0, 0
        if self.run_dir is not None and self.context.is_main:
            write_json(self.run_dir / METRICS, progress["history"])
        return stop

    def rescore(self) -> dict[str, Any]:
        """The metrics of the weights at the run's current step, scored as the run scores them
        (after the `wsd` decay branch at a scored step, BatchNorm statistics re-estimated) on
        this run's `data.val`, which may be another split than the one the run was scored on
        (e.g. a larger one). The run, its checkpoint and its files are left as they were."""
        step = self.progress["step"]
        if self.cfg.schedule == "wsd" and step in self.scored_steps:
            with self._branch():
                return self._scores(self._decay(decay_steps_for(step, self.cfg.decay_fraction)))
        return self._scores(None)

    def _scores(self, failed: tuple[str, str] | None) -> dict[str, Any]:
        """Metrics of the current weights (and EMA weights): top-1, top-5, loss, each with
        BatchNorm statistics re-estimated for them (and with the running ones when asked)."""
        if failed is not None:
            return {"top1": None, "top5": None, "loss": None, "count": 0}
        started = time.perf_counter()
        loader = _eval_loader(self.data, self.cfg, self.context)
        models = {"": self.model} | ({"ema_": self.ema.module} if self.ema is not None else {})
        row: dict[str, Any] = {}
        for prefix, model in models.items():
            sync_buffers(model, self.context)
            if self.cfg.eval_running_bn:
                metrics = evaluate(model, loader, self.context, self.device, self.autocast)
                row |= {f"{prefix}running_bn_{k}": v for k, v in metrics.items() if k != "count"}
            if self.cfg.bn_recalibration_batches:
                model = copy.deepcopy(model)  # the run's own statistics stay as they are
                row[f"{prefix}bn_images"] = recalibrate_bn(
                    model, self._bn_batches(), self.device, self.autocast
                )
                sync_buffers(model, self.context)
            row |= {
                f"{prefix}{k}": v
                for k, v in evaluate(
                    model, loader, self.context, self.device, self.autocast
                ).items()
            }
        self.progress["eval_s"] += time.perf_counter() - started
        return row

    def _bn_batches(self) -> Iterator[torch.Tensor]:
        """A fixed draw of training batches (augmented as in training, at a fixed epoch)."""
        loader = self._epoch_loader(BN_SEED, 0, num_workers=0)
        count = min(self.cfg.bn_recalibration_batches, self.steps_per_epoch)
        for _, (images, _, _) in zip(range(count), loader, strict=False):
            yield images

    @contextlib.contextmanager
    def _branch(self) -> Iterator[None]:
        """Train a branch off the run and put the run back afterwards (its weights, EMA,
        optimizer state and progress); the branch's seconds still count as training time."""
        saved = copy.deepcopy(
            {
                "model": self.model.state_dict(),
                "ema": self.ema.module.state_dict() if self.ema else None,
                "optimizer": self.optimizer.state_dict(),
                "progress": self.progress,
            }
        )
        started = time.perf_counter()
        self._branching = True
        try:
            yield
        finally:
            self._branching = False
            self.model.load_state_dict(saved["model"])
            if self.ema is not None:
                self.ema.module.load_state_dict(saved["ema"])
            self.optimizer.load_state_dict(saved["optimizer"])
            eval_s = self.progress["eval_s"] - saved["progress"]["eval_s"]
            self.progress = saved["progress"]
            self.progress["eval_s"] += eval_s
            self.progress["train_s"] += time.perf_counter() - started - eval_s

    def _decay(self, length: int) -> tuple[str, str] | None:
        """The `wsd` decay branch: `length` steps on the run's next batches, the LR falling
        linearly from the peak to the floor. Returns `(status, reason)` if it diverged."""
        floor = self.peak_lr * self.cfg.min_lr_ratio
        self.wrapped.train()
        started = time.perf_counter()
        for i, (images, labels, skipped) in enumerate(self._batches(length)):
            self._note_skipped(skipped)
            lr = decay_lr(i, length, self.peak_lr, floor)
            stop = self._step(images, labels, started, lr=lr)
            started = time.perf_counter()
            if stop is not None and stop[0] == "diverged":
                return stop
        return None

    def _batches(self, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
        """The next `count` training batches of the run, across epoch ends."""
        step = self.progress["step"]
        while count > 0:
            epoch, batch = divmod(step, self.steps_per_epoch)
            loader = self._epoch_loader(epoch, batch)
            take = min(self.steps_per_epoch - batch, count)
            yield from (item for _, item in zip(range(take), loader, strict=False))
            step, count = step + take, count - take

    def _summary(self, reason: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
        last = row if row is not None else self.progress["history"][-1]
        prefix = "ema_" if self.ema is not None else ""
        return {
            **self._totals(),
            "status": "ok",
            "reason": reason,
            "top1": last[f"{prefix}top1"],
            "top5": last[f"{prefix}top5"],
            "val_loss": last[f"{prefix}loss"],
            "train_loss": last["train_loss"],
        }

    def _failure(self, status: str, reason: str) -> dict[str, Any]:
        if self.progress["history"]:
            return {**self._summary(reason), "status": status}
        return {**self._totals(), "status": status, "reason": reason}

    def _totals(self) -> dict[str, Any]:
        progress = self.progress
        return {
            "epochs": round(progress["step"] / self.steps_per_epoch, 4),
            "steps": progress["step"],
            "wall_s": progress["train_s"] + progress["eval_s"],
            "images_per_s": progress["images"] / max(progress["train_s"], 1e-9),
            "skipped_images": progress["skipped"],
            "skipped_paths": list(progress["skipped_paths"]),
            "history": list(progress["history"]),
        }


def _eval_loader(data: DataSplits, cfg: TrainerConfig, context: DistContext):
    data.val.set_epoch(0)
    sampler = EpochSampler(
        len(data.val),
        seed=0,
        epoch=0,
        shuffle=False,
        rank=context.rank,
        world_size=context.world_size,
        equal=False,
    )
    return build_loader(
        data.val, cfg.eval_batch_size, train=False, sampler=sampler, num_workers=cfg.num_workers
    )
