"""Accuracy from a trained supernet (`evaluator.accuracy=supernet`, issue 16).

Instead of proxy-training every candidate, a study scores it with the subnet it inherits from one
supernet (`mv2search.supernet_train`), trained on the study's space under its budgets, on its data
and seed, at `evaluator.resolution_scale`. The run is cached by all of these
(`<runs_dir>/supernet/<key>/`), so every worker and every later study with the same ones shares
one training; a file lock next to the run folder makes concurrent workers wait for the one that
trains instead of training it twice.

A candidate's score: `extract(spec)`, then, at `proxy_resolution(image_size, scale)` (each batch
downsampled from the supernet's training resolution with `resize`, as the supernet trained it),
BatchNorm statistics re-estimated (`recalibrate_bn`) on a fixed draw of `bn_images` training images
(the order of the trainer's BatchNorm draw, epoch `BN_SEED`: the same images for every
candidate), then top-1 on the whole validation split (`evaluate`). Both image sets are read once
at the supernet's resolution and kept in memory (`2000 x 3 x 64 x 64` floats, 98 MB, for the
embedded default), so scoring costs forward passes only.

`train_study_supernet` trains (or reads back) the same supernet ahead of a search, from the keys
of a search config (`python supernet.py`, `SupernetAppConfig`): the task and the lock are
`supernet_task` and `fit_supernet`, shared with the scorer, so the search finds it cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from mv2search.arch.spec import ArchSpec
from mv2search.data import DataOptions, DataSplits, check_source
from mv2search.data.loader import EpochSampler, build_loader
from mv2search.files import file_lock
from mv2search.search.preflight import check_budgets
from mv2search.search.settings import (
    EvaluatorConfig,
    SupernetAppConfig,
    TrainingSetup,
    build_objectives,
)
from mv2search.study.objectives import Budget
from mv2search.supernet_train import (
    Feasibility,
    SupernetResult,
    SupernetRun,
    SupernetTask,
    SupernetTrainConfig,
    proxy_resolution,
    resize,
    run_key,
)
from mv2search.train.bn import recalibrate_bn
from mv2search.train.distributed import DistContext, resolve_device
from mv2search.train.evaluate import evaluate
from mv2search.train.loop import BN_SEED

__all__ = [
    "EVAL_BATCH",
    "SupernetScorer",
    "fit_supernet",
    "space_file",
    "supernet_recipe",
    "supernet_task",
    "train_study_supernet",
]

EVAL_BATCH = 250  # validation images per forward pass (eval mode: it does not change the score)


def supernet_recipe(settings: EvaluatorConfig) -> SupernetTrainConfig:
    """The `SupernetTrainConfig` of `evaluator.supernet` at `evaluator.resolution_scale`.

    Raises:
        ValueError: naming the `evaluator.supernet.*` field that is invalid.
    """
    recipe = settings.supernet
    bn_images = recipe.bn_images
    if not (isinstance(bn_images, int) and not isinstance(bn_images, bool) and bn_images >= 1):
        raise ValueError(f"evaluator.supernet.bn_images={bn_images!r}; allowed: an integer >= 1")
    try:
        return SupernetTrainConfig(
            steps=recipe.steps,
            batch_size=recipe.batch_size,
            num_random=recipe.num_random,
            teacher=recipe.teacher,
            attention_free=recipe.attention_free,
            resolution_scale=settings.resolution_scale,
        )
    except ValueError as err:
        raise ValueError(str(err).replace("supernet_train.", "evaluator.supernet.")) from err


def space_file(space: Mapping[str, Any], folder: Path) -> Path:
    """The space mapping written canonically to `<folder>/<name>-<hash>.yaml` (the supernet's
    cache key hashes its bytes, so the same space gives the same file in every study)."""
    text = yaml.safe_dump(_plain(space), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = folder / f"{space.get('name', 'space')}-{digest}.yaml"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    return path


def _plain(value: Any) -> Any:
    """Plain YAML values of a (possibly OmegaConf-converted) mapping."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _feasibility(budgets: Sequence[Budget]) -> Feasibility:
    limits = {b.metric: b.max_value for b in budgets}
    return Feasibility.budget(max_gmacs=limits.get("gmacs"), max_mparams=limits.get("mparams"))


def supernet_task(
    space: Mapping[str, Any],
    budgets: Sequence[Budget],
    source: str,
    options: DataOptions,
    seed: int,
    runs_dir: str | Path,
) -> SupernetTask:
    """The supernet task of a study: the space (as a file under `<runs_dir>/supernet/spaces/`),
    its budgets, the data and the seed."""
    from mv2search.search.space import SearchSpace

    path = space_file(space, Path(runs_dir) / "supernet" / "spaces")
    return SupernetTask(
        space=SearchSpace.from_dict(dict(space), source="space"),
        space_file=path,
        feasible=_feasibility(budgets),
        source=source,
        options=options,
        seed=seed,
    )


def fit_supernet(
    task: SupernetTask, cfg: SupernetTrainConfig, runs_dir: str | Path, device: torch.device
) -> tuple[SupernetResult, int]:
    """Train the supernet of `task`, or wait for the process that trains it, or read it from the
    cache, under a file lock next to the run folder.

    Returns:
        The result and the supernet's training resolution.
    """
    lock = Path(runs_dir) / "supernet" / f"{run_key(task, cfg)}.lock"
    # the processes of one torchrun job train together: rank 0 holds the lock for all of them
    rank = int(os.environ.get("RANK", "0"))
    with file_lock(lock) if rank == 0 else contextlib.nullcontext():
        run = SupernetRun(task, cfg, runs_dir=runs_dir, device=device)
        result = run.fit()
    return result, run.resolution


def train_study_supernet(cfg: SupernetAppConfig) -> SupernetResult:
    """Train (or read back) the supernet a search with the same settings would score with.

    Args:
        cfg: The `supernet.py` config (`space` as a plain mapping).

    Returns:
        The result (`cached` when a finished run was found).

    Raises:
        ValueError: for an invalid space, budget, data source, resolution scale, torch device or
            `evaluator.supernet` recipe, naming the field.
    """
    from mv2search.search.space import SearchSpace

    space = SearchSpace.from_dict(dict(cfg.space), source="space")
    objectives = build_objectives(cfg.objectives)
    scale = cfg.evaluator.resolution_scale
    if not scale > 0:
        raise ValueError(f"evaluator.resolution_scale: expected > 0, got {scale}")
    recipe = supernet_recipe(cfg.evaluator)
    options = cfg.data.options.under(cfg.runs_dir)
    check_source(cfg.data.source, options, cfg.seed)
    check_budgets(space, objectives)
    try:
        device = resolve_device(cfg.evaluator.torch_device, int(os.environ.get("LOCAL_RANK", "0")))
    except ValueError as err:
        raise ValueError(f"evaluator.torch_device: {err}") from err
    task = supernet_task(
        cfg.space, objectives.budgets, cfg.data.source, options, cfg.seed, cfg.runs_dir
    )
    return fit_supernet(task, recipe, cfg.runs_dir, device)[0]


class SupernetScorer:
    """Scores specs with the subnets of one study's supernet (see the module docstring).

    Nothing is trained or read until the first `score`.

    Args:
        space: The study's search-space mapping.
        budgets: The study's budgets: the supernet trains only subnets within them.
        training: The study's data source, options (the supernet's `SupernetTask`) and seed.
        settings: Resolution scale and `evaluator.supernet`.
        runs_dir: Root of the supernet runs (`<runs_dir>/supernet/`).
        data: Image size -> the splits at that size (the evaluator's data builder).
        device: Where the supernet trains and scores.

    Raises:
        ValueError: naming the `evaluator.supernet.*` field that is invalid.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        budgets: Sequence[Budget],
        training: TrainingSetup,
        settings: EvaluatorConfig,
        runs_dir: str | Path,
        data: Callable[[int], DataSplits],
        device: torch.device,
    ) -> None:
        self.cfg = supernet_recipe(settings)
        self.space, self.budgets, self.training = space, tuple(budgets), training
        self.settings, self.runs_dir = settings, Path(runs_dir)
        self._build_data, self.device = data, device
        self.result: SupernetResult | None = None
        self.resolution: int | None = None  # the supernet's training resolution
        self.bn_batches: list[torch.Tensor] = []  # at `resolution`
        self.val_batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def task(self) -> SupernetTask:
        """The supernet's task (`supernet_task`)."""
        training = self.training
        return supernet_task(
            self.space,
            self.budgets,
            training.data_source,
            training.data_options,
            training.seed,
            self.runs_dir,
        )

    def supernet(self) -> SupernetResult:
        """Train the supernet, or wait for the worker that trains it, or read it from the cache
        (once per scorer)."""
        if self.result is None:
            result, self.resolution = fit_supernet(
                self.task(), self.cfg, self.runs_dir, self.device
            )
            result.supernet.eval()
            self.result = result
        return self.result

    def images(self) -> None:
        """Read the BatchNorm images and the validation split once, at the supernet's
        resolution."""
        if self.val_batches:
            return
        self.supernet()
        assert self.resolution is not None
        data = self._build_data(self.resolution)
        seed, batch, train = self.training.seed, self.cfg.batch_size, data.train
        train.set_epoch(BN_SEED)
        order = EpochSampler(len(train), seed=seed, epoch=BN_SEED, equal=False)
        images, count = [], min(self.settings.supernet.bn_images, len(train))
        for x, _, _ in build_loader(train, batch, train=False, sampler=order):
            images.append(x)
            if sum(len(i) for i in images) >= count:
                break
        self.bn_batches = list(torch.cat(images)[:count].split(batch))
        order = EpochSampler(len(data.val), seed=seed, epoch=0, shuffle=False, equal=False)
        self.val_batches = [
            (x, y) for x, y, _ in build_loader(data.val, EVAL_BATCH, train=False, sampler=order)
        ]

    def score(self, spec: ArchSpec) -> tuple[float, float]:
        """`(top-1, seconds)` of `spec`'s inherited subnet (the seconds exclude training the
        supernet and reading the images, done on the first call).

        Raises:
            ValueError: naming the field of `spec` outside the supernet.
        """
        self.images()
        started = time.perf_counter()
        model = self.supernet().supernet.extract(spec)
        side = proxy_resolution(spec.image_size, self.settings.resolution_scale)
        recalibrate_bn(model, (resize(x, side) for x in self.bn_batches), self.device)
        loader = ((resize(x, side), y, ()) for x, y in self.val_batches)
        top1 = evaluate(model, loader, DistContext(), self.device)["top1"]  # type: ignore[arg-type]
        return float(top1), time.perf_counter() - started
