"""`python train.py arch=... data=... trainer=...`: the typed config and the function behind it.

`run_train(cfg)` resolves the architecture (preset name or spec file), builds the data set at the
trainer's resolution, picks the run folder and calls `train`. It can be called without Hydra (tests,
notebooks); `train.py` only composes the config and converts it to `TrainAppConfig`.

The run folder defaults to `runs/train/<arch>-<trainer>-<hash>`, where the hash covers everything
that changes the result (spec, trainer, data, seed, process count), so running the same command
again resumes the same run and a changed setting starts a new one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch.distributed as dist

from mv2search.arch import ArchSpec, load_spec
from mv2search.data import (
    DataOptions,
    DataSplits,
    build_datasets,
    check_source,
    source_identity,
)
from mv2search.train.checkpoint import write_json
from mv2search.train.config import TrainerConfig
from mv2search.train.distributed import DistContext, init_distributed, resolve_device
from mv2search.train.loop import train
from mv2search.train.result import TrainResult

__all__ = ["TrainAppConfig", "run_train", "default_run_dir"]


@dataclass
class TrainAppConfig:
    """The whole `train.py` config (Hydra schema `base_train`)."""

    arch: str = "mobilevitv2_050"  # preset name, or a spec YAML/JSON file
    data: str = "embedded"  # `embedded` (generated) or an image-folder root `root/<class>/<img>`
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    data_options: DataOptions = field(default_factory=DataOptions)
    seed: int = 0
    # where to train: auto, cpu, cuda, cuda:N (`device` is the latency-profile group of conf/)
    torch_device: str = "auto"
    out_dir: str | None = None  # run folder (None: runs/train/<arch>-<trainer>-<hash>)
    runs_dir: str = "runs"  # root of everything the project writes


def run_train(cfg: TrainAppConfig) -> TrainResult:
    """Train `cfg.arch` on `cfg.data` with `cfg.trainer`, writing under the run folder.

    Writes `spec.yaml`, `config.json`, `metrics.json` (a row per epoch), `checkpoint.pt` and
    `result.json`; a folder that holds a checkpoint of the same run is resumed.

    Args:
        cfg: The composed config.

    Returns:
        The result (also in `result.json`).

    Raises:
        ValueError: for an unknown preset, a malformed spec file, a missing data folder or an
            invalid trainer setting, naming it.
    """
    spec = load_spec(cfg.arch)
    spec = dataclasses.replace(spec, image_size=cfg.trainer.image_size or spec.image_size)
    check_source(cfg.data, cfg.data_options, cfg.seed)
    device = resolve_device(cfg.torch_device, _local_rank())
    context = init_distributed(device)
    data = _build_data(cfg, spec.image_size, context)
    spec = dataclasses.replace(spec, num_classes=data.num_classes)
    run_dir = Path(cfg.out_dir) if cfg.out_dir else default_run_dir(cfg, spec, context.world_size)
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "spec.yaml").write_text(spec.to_yaml())
        write_json(run_dir / "config.json", _jsonable(cfg))
        name = spec.name or cfg.arch
        print(f"training {name} at {spec.image_size} px on {data.source} -> {run_dir}")
    try:
        result = train(spec, data, cfg.trainer, seed=cfg.seed, run_dir=run_dir, device=device)
    finally:
        if context.active:
            dist.destroy_process_group()
    if context.is_main:
        print(summarise(result))
    return result


def default_run_dir(cfg: TrainAppConfig, spec: ArchSpec, world_size: int = 1) -> Path:
    """`<runs_dir>/train/<arch>-<trainer>-<hash of spec, trainer, data, seed, world size>`.

    Args:
        cfg: The config.
        spec: The resolved spec (at the training resolution).
        world_size: Number of processes (a DDP run is a different run).

    Returns:
        The folder.
    """
    identity = {"spec": spec.to_dict(), "cfg": _jsonable(cfg), "world_size": world_size}
    identity["cfg"].pop("out_dir")
    identity["cfg"]["data"] = source_identity(cfg.data)
    # a trainer measured in steps keeps one folder whatever step it stops at (it continues)
    identity["cfg"]["trainer"] = json.loads(json.dumps(cfg.trainer.identity(), default=str))
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    name = spec.name or Path(cfg.arch).stem
    return Path(cfg.runs_dir) / "train" / f"{name}-{cfg.trainer.name}-{digest}"


def summarise(result: TrainResult) -> str:
    """One line for the terminal: status, accuracy, time and throughput.

    Args:
        result: A finished run.

    Returns:
        The line.
    """
    if result.top1 is None:
        metrics = "no evaluation"
    else:
        metrics = f"top-1 {result.top1:.2%}, top-5 {result.top5:.2%}"
        metrics += f", val loss {result.val_loss:.3f}"
    line = (
        f"{result.status}: {metrics}; {result.epochs:g} epochs, {result.steps} steps in "
        f"{result.wall_s:.0f} s ({result.images_per_s:.0f} img/s); {result.reason}"
    )
    if result.skipped_images:
        shown = ", ".join(result.skipped_paths[:3])
        line += f"\n{result.skipped_images} undecodable images skipped (e.g. {shown})"
    return line


def _build_data(cfg: TrainAppConfig, image_size: int, context: DistContext) -> DataSplits:
    """Build the splits; under DDP rank 0 first, so the others read its cached files."""
    options = cfg.data_options.under(cfg.runs_dir)
    if cfg.trainer.subset is not None:
        options = dataclasses.replace(options, subset=cfg.trainer.subset)
    build = functools.partial(
        build_datasets,
        cfg.data,
        image_size,
        policy=cfg.trainer.augment,
        seed=cfg.seed,
        options=options,
    )
    if not context.active:
        return build()
    data = build() if context.is_main else None
    dist.barrier()
    return data if data is not None else build()


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _jsonable(cfg: TrainAppConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
