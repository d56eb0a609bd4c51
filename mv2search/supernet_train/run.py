"""Train a supernet with the sandwich rule, resumably, cached under `runs/supernet/<key>/`.

`train_supernet(task, cfg)` samples, at every step, the largest, the smallest and `num_random`
random feasible subnets (`SubnetSampler`), trains them on one batch (`sandwich_backward`: the
largest on the labels, the others distilled from it, each at its own resolution) and takes one
AdamW step on the summed gradients, the LR warmed up then cosine-decayed (`mv2search.train.optim`).

The data set is built by `mv2search.data.build_datasets` (as `mv2search.train` does) at the
training resolution of the space's largest `image_size`; each subnet's batch is downsampled from
it. Batches are a pure function of `(seed, step)` (`EpochSampler`, per-sample augmentation seeds).

Files, in `<runs_dir>/supernet/<space>-<hash>/`, the hash covering the space's name and file
bytes, the feasibility identity, the data source identity and options, the recipe and the seed:

- `checkpoint.pt`, written atomically every `checkpoint_every_steps` steps and at the end: the
  supernet, the optimizer, the subnet sampler's random state, the step and the loss history. A run
  started again on the folder resumes from it and ends with the same weights, bit for bit, as one
  that was never interrupted. The final checkpoint drops the optimizer state (nothing resumes it).
- `identity.json` (what the hash covers) and `result.json` (steps and the last losses).

A folder that holds a finished run answers at once: nothing is trained and no data is built.

Under `torchrun --nproc_per_node N` (`python -m torch.distributed.run ... supernet.py`) each
process trains the same sandwich (the subnet sampler is seeded alike) on its `batch_size / N`
share of the step's images, the gradients averaged across processes before the update, and rank 0
writes the files. A step sees the same images as in one process (rank r reads every N-th of the
step's indices); BatchNorm statistics are per process, as with `train.py`. The run folder does
not depend on N (a search in one process reads back a supernet trained by N); `result.json`
says how many trained it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from mv2search.arch import ArchSpec
from mv2search.data import DataOptions, DataSplits, build_datasets, check_source, source_identity
from mv2search.data.loader import EpochSampler, build_loader, steps_per_epoch
from mv2search.supernet import Supernet
from mv2search.supernet.bounds import SpaceLike
from mv2search.supernet_train.config import SupernetTrainConfig
from mv2search.supernet_train.sampler import Feasibility, SubnetSampler, attention_free_twin
from mv2search.supernet_train.sandwich import SandwichLosses, proxy_resolution, sandwich_backward
from mv2search.train.checkpoint import load_own_checkpoint, save_checkpoint, write_json
from mv2search.train.distributed import DistContext, all_reduce_sum, init_distributed
from mv2search.train.numerics import clip_gradients, use_bf16
from mv2search.train.optim import build_optimizer, lr_at, warmup_steps_for

__all__ = ["SupernetResult", "SupernetRun", "SupernetTask", "run_key", "train_supernet"]

CHECKPOINT = "checkpoint.pt"
IDENTITY = "identity.json"
RESULT = "result.json"


@dataclass(frozen=True)
class SupernetTask:
    """What a supernet is trained for: the space, the budget, the data and the seed."""

    # The search space (`mv2search.search.load_space(name)`), read through `SpaceLike`.
    space: SpaceLike
    # The YAML file the space was loaded from: its bytes key the cache.
    space_file: str | Path
    # Which subnets may be trained (`Feasibility.budget(max_gmacs=...)`).
    feasible: Feasibility
    # `embedded` or an image-folder root (`mv2search.data.build_datasets`).
    source: str = "embedded"
    # Sizes, subset and cache of the data (the cache folder does not key the run).
    options: DataOptions = field(default_factory=DataOptions)
    # Seeds the weights, the data order and augmentation, and the random subnets.
    seed: int = 0

    def identity(self) -> dict[str, Any]:
        """What of the task decides the trained weights (JSON-able).

        Raises:
            ValueError: naming `space_file` when it is missing, or `feasible` when it is not a
                `Feasibility` (a bare callable has no identity to key the cache).
        """
        path = Path(self.space_file)
        if not path.is_file():
            raise ValueError(f"space_file: {str(path)!r} is not a file")
        if not isinstance(self.feasible, Feasibility):
            raise ValueError(
                f"feasible: expected a Feasibility (predicate and identity), got "
                f"{type(self.feasible).__name__}; wrap it as Feasibility(check, identity)"
            )
        options = dataclasses.asdict(self.options)
        options.pop("cache_dir")
        name = getattr(self.space, "name", "") or path.stem
        return {
            "space": {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
            "feasible": self.feasible.identity,
            "data": {"source": source_identity(self.source), "options": options},
            "seed": self.seed,
        }


def run_key(task: SupernetTask, cfg: SupernetTrainConfig) -> str:
    """The run's folder name: `<space name>-<12 hex digits of the task and recipe identity>`."""
    identity = {**task.identity(), "recipe": cfg.identity()}
    text = json.dumps(identity, sort_keys=True, default=str)
    return f"{identity['space']['name']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class SupernetResult:
    """A trained (or partly trained) supernet and how it got there."""

    supernet: Supernet  # in train mode; `extract(spec)` then `recalibrate_bn` to score a subnet
    run_dir: Path
    step: int  # optimizer steps the supernet has had
    trained_steps: int  # steps trained by this call (0 when the cache answered)
    finished: bool  # step == cfg.steps
    cached: bool  # a finished run was found in `run_dir`: nothing was trained
    largest: ArchSpec  # the sandwich's top, the teacher (`SupernetTrainConfig.teacher`)
    smallest: ArchSpec
    history: tuple[dict[str, float], ...]  # per step: step, lr, ce, distill (its mean)


def train_supernet(
    task: SupernetTask,
    cfg: SupernetTrainConfig,
    *,
    runs_dir: str | Path = "runs",
    device: torch.device | str = "cpu",
    stop_at: int | None = None,
) -> SupernetResult:
    """Train (or resume, or load from the cache) the supernet of `task` under `cfg`.

    Args:
        task: Space, budget, data and seed.
        cfg: Recipe and budget.
        runs_dir: Root of the run folders (`<runs_dir>/supernet/<key>/`) and of the data cache.
        device: Where to train.
        stop_at: Stop (checkpointed, resumable) after this many steps in all (None: `cfg.steps`).

    Returns:
        The result.

    Raises:
        ValueError: for a bad task, a budget nothing meets, a batch larger than the training set,
            or a run folder holding another run's checkpoint, naming the field.
        FloatingPointError: for a non-finite loss or gradient norm (the checkpoint is kept).
    """
    return SupernetRun(task, cfg, runs_dir=runs_dir, device=device).fit(stop_at)


class SupernetRun:
    """The state of one supernet run; `fit()` drives it, `train_step` is one sandwich."""

    def __init__(
        self,
        task: SupernetTask,
        cfg: SupernetTrainConfig,
        *,
        runs_dir: str | Path = "runs",
        device: torch.device | str = "cpu",
    ) -> None:
        self.task, self.cfg, self.device = task, cfg, torch.device(device)
        self.context: DistContext = init_distributed(self.device)
        world = self.context.world_size
        if cfg.batch_size % world:
            raise ValueError(
                f"supernet_train.batch_size={cfg.batch_size} does not split over {world} "
                "processes; allowed: a multiple of the process count"
            )
        self.batch_size = cfg.batch_size // world  # this process's share of a step's images
        self.runs_dir = Path(runs_dir)
        self.identity = {**task.identity(), "recipe": cfg.identity()}
        self.run_dir = self.runs_dir / "supernet" / run_key(task, cfg)
        self.sampler = SubnetSampler(
            task.space, task.feasible, seed=task.seed, max_tries=cfg.max_tries
        )
        self.teacher = self.sampler.largest if cfg.teacher == "budget" else self.sampler.top
        self.twins = [attention_free_twin(self.teacher)] if cfg.attention_free else []
        self.resolution = proxy_resolution(self.sampler.max_image_size, cfg.resolution_scale)
        torch.manual_seed(task.seed)
        self.supernet = Supernet(task.space).to(self.device)
        self.peak_lr, weight_decay = cfg.peak_lr_and_decay(self.teacher.width_multiplier)
        self.optimizer = build_optimizer(
            self.supernet, self.peak_lr, weight_decay, (cfg.beta1, cfg.beta2)
        )
        self.warmup = warmup_steps_for(cfg.steps, cfg.warmup_steps, cfg.warmup_max_fraction)
        self.autocast = use_bf16(cfg.precision, self.device)
        self.step, self.finished, self.cached = 0, False, False
        self.history: list[dict[str, float]] = []
        self._data: DataSplits | None = None
        self._restore()

    # ------------------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "model": self.supernet.state_dict(),
            "optimizer": None if self.finished else self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "step": self.step,
            "history": self.history,
            "finished": self.finished,
        }

    def _save(self) -> None:
        if self.context.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT, self._state())

    def _restore(self) -> None:
        differs = "space, budget, data, recipe or seed"
        state = load_own_checkpoint(self.run_dir / CHECKPOINT, self.identity, differs)
        if state is None:
            return
        self.supernet.load_state_dict(state["model"])
        if state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.history = state["step"], list(state["history"])
        self.finished = self.cached = bool(state["finished"])

    # ------------------------------------------------------------------------------ the loop
    def fit(self, stop_at: int | None = None) -> SupernetResult:
        """Train to `cfg.steps` (or `stop_at`), checkpointing; a finished run returns at once.

        Args:
            stop_at: Stop after this many steps in all (None: `cfg.steps`).

        Returns:
            The result.

        Raises:
            ValueError: for a negative `stop_at`, or a batch larger than the training set.
            FloatingPointError: for a non-finite loss or gradient norm.
        """
        if stop_at is not None and (not isinstance(stop_at, int) or stop_at < 0):
            raise ValueError(f"stop_at={stop_at!r}; allowed: an integer >= 0 or None")
        start = self.step
        end = self.cfg.steps if stop_at is None else min(stop_at, self.cfg.steps)
        if not self.finished and self.step < end:
            main = self.context.is_main
            if main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                write_json(self.run_dir / IDENTITY, self.identity)
            self._train_to(end)
            self._check_in_step()
            self.finished = self.step >= self.cfg.steps
            self._save()
            if main:
                write_json(self.run_dir / RESULT, self._summary())
        return SupernetResult(
            self.supernet,
            self.run_dir,
            self.step,
            self.step - start,
            self.finished,
            self.cached,
            self.teacher,
            self.sampler.smallest,
            tuple(self.history),
        )

    def _train_to(self, end: int) -> None:
        quiet = None if self.context.is_main else True  # one bar, rank 0's
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc="supernet", disable=quiet)
        running: dict[str, float] = {}
        try:
            for images, labels, _ in self._batches(self.step, end - self.step):
                losses = self.train_step(images, labels)
                for name, value in (("ce", losses.ce), ("distill", losses.distill_mean)):
                    running[name] = 0.9 * running.get(name, value) + 0.1 * value
                bar.update(1)
                bar.set_postfix(ce=f"{running['ce']:.3f}", distill=f"{running['distill']:.4f}")
                if self.step % self.cfg.checkpoint_every_steps == 0 and self.step < end:
                    self._save()
        finally:
            bar.close()

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> SandwichLosses:
        """One sandwich on one batch: sample the random subnets, accumulate, clip, step.

        Args:
            images: `B x 3 x H x W` at `self.resolution` (or above every subnet's).
            labels: `B` class indices.

        Returns:
            The losses before the update.

        Raises:
            FloatingPointError: for a non-finite loss or gradient norm (nothing is updated).
        """
        cfg = self.cfg
        floor = self.peak_lr * cfg.min_lr_ratio
        lr = lr_at(self.step, cfg.steps, self.warmup, self.peak_lr, floor, cfg.warmup_init_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sampler = self.sampler
        subnets = [self.teacher, sampler.smallest, *sampler.sample(cfg.num_random), *self.twins]
        self.supernet.train()
        self.optimizer.zero_grad(set_to_none=True)
        images, labels = images.to(self.device), labels.to(self.device)
        losses = sandwich_backward(self.supernet, images, labels, subnets, cfg, self.autocast)
        losses = self._average(losses)
        norm = clip_gradients(self.supernet, cfg.grad_clip)
        if not losses.finite or not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise FloatingPointError(
                f"supernet step {self.step}: non-finite loss or gradient norm ({losses}, norm "
                f"{norm.item():.4g}, lr {lr:.3g}); lower supernet_train.lr"
            )
        self.optimizer.step()
        self.step += 1
        row = {"step": self.step, "lr": lr, "ce": losses.ce, "distill": losses.distill_mean}
        self.history.append(row)
        return losses

    def _average(self, losses: SandwichLosses) -> SandwichLosses:
        """Under DDP: average the gradients (every parameter the sandwich touched: the same on
        every process, which all train the same subnets) and the losses over the processes."""
        if not self.context.active:
            return losses
        world = self.context.world_size
        grads = [p.grad for p in self.supernet.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()
        values = all_reduce_sum([losses.ce, *losses.distill], self.context, self.device)
        return SandwichLosses(values[0] / world, tuple(v / world for v in values[1:]))

    def _check_in_step(self) -> None:
        """Under DDP: every process must hold rank 0's weights (the averaged gradients keep them
        together); raises RuntimeError otherwise, before anything is saved."""
        if not self.context.active:
            return
        with torch.no_grad():
            mine = torch.stack([p.double().sum() for p in self.supernet.parameters()])
        theirs = mine.clone()
        dist.broadcast(theirs, src=0)
        if not torch.equal(mine, theirs):
            raise RuntimeError(
                f"supernet step {self.step}: process {self.context.rank}'s weights differ from "
                "rank 0's; the processes did not train the same sandwich"
            )

    # ------------------------------------------------------------------------------ data
    @property
    def data(self) -> DataSplits:
        """The train/val splits at `self.resolution` (built on first use; under DDP by rank 0
        first, so the others read its cached images)."""
        if self._data is None:
            task, options = self.task, self.task.options.under(self.runs_dir)
            check_source(task.source, options, task.seed)
            if self.context.active and not self.context.is_main:
                dist.barrier()  # rank 0 builds and caches first
            self._data = build_datasets(
                task.source,
                self.resolution,
                policy=self.cfg.augment,
                seed=task.seed,
                options=options,
            )
            if self.context.active and self.context.is_main:
                dist.barrier()
        return self._data

    def _batches(self, step: int, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, Any]]:
        """The training batches of steps `step, ..., step + count - 1`, across epoch ends."""
        train, size, context = self.data.train, self.batch_size, self.context
        per_epoch = steps_per_epoch(len(train), size, context.world_size)
        if per_epoch == 0:
            raise ValueError(
                f"supernet_train.batch_size={self.cfg.batch_size} exceeds the training set "
                f"({len(train)} images)"
            )
        while count > 0:
            epoch, batch = divmod(step, per_epoch)
            train.set_epoch(epoch)
            order = EpochSampler(
                len(train),
                seed=self.task.seed,
                epoch=epoch,
                rank=context.rank,
                world_size=context.world_size,
                start=batch * size,
            )
            loader = build_loader(
                train, size, train=True, sampler=order, num_workers=self.cfg.num_workers
            )
            take = min(per_epoch - batch, count)
            yield from (item for _, item in zip(range(take), loader, strict=False))
            step, count = step + take, count - take

    def _summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {
            "step": self.step,
            "steps": self.cfg.steps,
            "finished": self.finished,
            "resolution": self.resolution,
            "processes": self.context.world_size,
            "largest": self.teacher.to_dict(),
            "smallest": self.sampler.smallest.to_dict(),
            "last": last,
        }
