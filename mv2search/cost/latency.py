"""Measured inference latency of a network (or one block) on a device profile.

Protocol (every backend):
1. The model is put in eval mode; the input is one fixed random tensor of the profile's batch size
   and the given input size; CPU threads are fixed (`threads` intra-op, one inter-op) meanwhile.
2. Warm-up until timings settle: chunks of `warmup` untimed runs repeat until two consecutive chunk
   medians agree within `settle_tolerance` (or `max_warmup_s` passes; `settled` records which).
3. `iters` timed runs, each alone: `time.perf_counter` around a CPU run, CUDA events around a GPU
   run after `torch.cuda.synchronize()`.
4. Summary: median, IQR (p75 - p25), p90 and mean in milliseconds. CPU timings have a long right
   tail (preemption, frequency changes), so the median is the number to use.
5. Timings drift between processes (about +-12 % for PyTorch eager here), so a profile may ask for
   `processes` > 1: the measurement is repeated in that many fresh processes, one after the other,
   and the result is the median of their medians (`process_medians_ms` keeps each). To compare many
   networks, `measure_latencies` interleaves them in rounds so that drift hits all alike.

Backends: "eager" (PyTorch, `inference_mode`), "compile" (`torch.compile`, then as eager),
"onnxruntime" (exported with `export_onnx`, `CPUExecutionProvider`, all graph optimisations,
sequential execution), "cuda" (PyTorch on GPU 0 in the profile's dtype).
Every result carries the device fingerprint (`mv2search.cost.device.device_fingerprint`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mv2search.arch.export import export_onnx
from mv2search.arch.model import build_model
from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import BACKENDS, DeviceProfile, device_fingerprint, load_device_profile

__all__ = [
    "BACKENDS",
    "LatencyStats",
    "measure_latency",
    "measure_latencies",
    "measure_module",
    "measure_modules",
]

Runner = Callable[[], float]  # one forward pass; returns its latency in milliseconds


@dataclass(frozen=True)
class LatencyStats:
    """Summary of timed forward passes, with the fingerprint of the device they ran on."""

    median_ms: float  # median latency of one forward pass, milliseconds
    iqr_ms: float  # p75 - p25, milliseconds
    p90_ms: float  # 90th percentile, milliseconds
    mean_ms: float  # mean (outlier-sensitive), milliseconds
    runs: int  # timed runs in all processes
    warmup_runs: int  # untimed runs before timing (first process)
    settled: bool  # whether warm-up ended because timings agreed (not by the time cap)
    fingerprint: dict[str, Any]  # device_fingerprint(): processor/GPU, threads, backend, ...
    process_medians_ms: tuple[float, ...] = ()  # per-process medians when processes > 1

    @property
    def backend(self) -> str:
        """The backend that ran the model."""
        return self.fingerprint["backend"]

    @property
    def threads(self) -> int:
        """CPU threads used."""
        return self.fingerprint["threads"]

    @property
    def process_cv(self) -> float | None:
        """Coefficient of variation of the per-process medians (None for one process)."""
        medians = self.process_medians_ms
        if len(medians) < 2:
            return None
        return statistics.stdev(medians) / statistics.mean(medians)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        data = dataclasses.asdict(self)
        data["process_medians_ms"] = list(self.process_medians_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyStats:
        """Inverse of `to_dict`."""
        data = dict(data)
        data["process_medians_ms"] = tuple(data.get("process_medians_ms", ()))
        return cls(**data)


def measure_latency(
    model_or_spec: ArchSpec | nn.Module,
    device: str | DeviceProfile = "cpu_eager_1t",
    *,
    image_size: int | None = None,
) -> LatencyStats:
    """Latency of one network on a device profile (protocol in the module docstring).

    Args:
        model_or_spec: A spec (built with random weights) or a built model.
        device: A profile name from `conf/device/`, a YAML path, or a `DeviceProfile`.
        image_size: Input side in pixels; defaults to the spec's, required for a model.

    Returns:
        The statistics with the device fingerprint.

    Raises:
        ValueError: for an unknown profile or backend, or a model without `image_size`.
    """
    profile = load_device_profile(device)
    model, image_size = _model_and_size(model_or_spec, image_size)
    if profile.processes > 1:
        return _measure_in_processes(model_or_spec, profile, image_size)
    example = torch.randn(profile.batch_size, 3, image_size, image_size)
    stats = measure_module(model, example, profile)
    return dataclasses.replace(stats, fingerprint=device_fingerprint(profile, image_size))


def measure_module(
    module: nn.Module, example: torch.Tensor, device: str | DeviceProfile
) -> LatencyStats:
    """Latency of any module (a single block, say) on one example input.

    Args:
        module: The module; its train/eval mode is restored afterwards.
        example: The input (`B x C x H x W`); its batch size is used as is.
        device: Profile name, YAML path or `DeviceProfile`.

    Returns:
        The statistics; the fingerprint's `image_size` is the example's last dimension.
    """
    return measure_modules([(module, example)], device, rounds=1)[0]


def measure_latencies(
    specs: Sequence[ArchSpec], device: str | DeviceProfile, *, rounds: int = 5
) -> list[LatencyStats]:
    """Latencies of several specs, timed in interleaved rounds so that drift hits all alike.

    Args:
        specs: The networks (built with random weights).
        device: Profile name, YAML path or `DeviceProfile`.
        rounds: Number of rounds over all specs.

    Returns:
        One `LatencyStats` per spec, in order.
    """
    profile = load_device_profile(device)
    items = [
        (build_model(spec), torch.randn(profile.batch_size, 3, spec.image_size, spec.image_size))
        for spec in specs
    ]
    return measure_modules(items, profile, rounds=rounds)


def measure_modules(
    items: Sequence[tuple[nn.Module, torch.Tensor]], device: str | DeviceProfile, *, rounds: int = 5
) -> list[LatencyStats]:
    """Latencies of several modules on their example inputs, timed in interleaved rounds.

    Every module is prepared and warmed up first; then each round runs every module
    `ceil(iters / rounds)` times, so that a slow spell of the machine hits all of them alike instead
    of whichever happened to be measured then.

    Args:
        items: (module, example input) pairs.
        device: Profile name, YAML path or `DeviceProfile`.
        rounds: Number of rounds over all modules.

    Returns:
        One `LatencyStats` per module, in order.
    """
    profile = load_device_profile(device)
    per_round = math.ceil(profile.iters / rounds)
    with contextlib.ExitStack() as stack:
        runners = [stack.enter_context(_runner(module, x, profile)) for module, x in items]
        warmups = [_warm_up(run, profile) for run in runners]
        times: list[list[float]] = [[] for _ in items]
        for _ in range(rounds):
            for run, bucket in zip(runners, times, strict=True):
                bucket.extend(run() for _ in range(per_round))
    return [
        _summarise(t, w, s, device_fingerprint(profile, int(x.shape[-1])))
        for t, (w, s), (_, x) in zip(times, warmups, items, strict=True)
    ]


# ----------------------------------------------------------------------------------- protocol
def _warm_up(run: Runner, profile: DeviceProfile) -> tuple[int, bool]:
    start, previous, runs = time.perf_counter(), None, 0
    while True:
        chunk = statistics.median(run() for _ in range(profile.warmup))
        runs += profile.warmup
        if previous is not None and abs(chunk - previous) <= profile.settle_tolerance * previous:
            return runs, True
        if time.perf_counter() - start > profile.max_warmup_s:
            return runs, False
        previous = chunk


def _summarise(
    times_ms: list[float], warmup_runs: int, settled: bool, fingerprint: dict[str, Any]
) -> LatencyStats:
    p25, median, p75, p90 = np.percentile(np.asarray(times_ms), [25, 50, 75, 90])
    return LatencyStats(
        median_ms=float(median),
        iqr_ms=float(p75 - p25),
        p90_ms=float(p90),
        mean_ms=float(np.mean(times_ms)),
        runs=len(times_ms),
        warmup_runs=warmup_runs,
        settled=settled,
        fingerprint=fingerprint,
    )


def _model_and_size(
    model_or_spec: ArchSpec | nn.Module, image_size: int | None
) -> tuple[nn.Module, int]:
    if isinstance(model_or_spec, ArchSpec):
        return build_model(model_or_spec), image_size or model_or_spec.image_size
    if image_size is None:
        raise ValueError("image_size: required when measuring an nn.Module (only a spec has one)")
    return model_or_spec, image_size


def _measure_in_processes(
    model_or_spec: ArchSpec | nn.Module, profile: DeviceProfile, image_size: int
) -> LatencyStats:
    import multiprocessing

    single = dataclasses.replace(profile, processes=1)
    context = multiprocessing.get_context("spawn")  # fresh interpreters, no inherited state
    results = []
    for _ in range(profile.processes):  # one after the other: parallel runs would contend
        with context.Pool(1) as pool:
            results.append(
                pool.apply(measure_latency, (model_or_spec, single), {"image_size": image_size})
            )
    medians = tuple(r.median_ms for r in results)
    return LatencyStats(
        median_ms=statistics.median(medians),
        iqr_ms=statistics.median(r.iqr_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        mean_ms=statistics.mean(r.mean_ms for r in results),
        runs=sum(r.runs for r in results),
        warmup_runs=results[0].warmup_runs,
        settled=all(r.settled for r in results),
        fingerprint=results[0].fingerprint,
        process_medians_ms=medians,
    )


# ----------------------------------------------------------------------------------- backends
@contextlib.contextmanager
def _runner(module: nn.Module, example: torch.Tensor, profile: DeviceProfile) -> Iterator[Runner]:
    if profile.backend not in BACKENDS:  # DeviceProfile validates; this guards direct callers
        raise ValueError(f"backend: {profile.backend!r}; allowed: {list(BACKENDS)}")
    was_training, threads = module.training, torch.get_num_threads()
    torch.set_num_threads(profile.threads)
    module.eval()
    try:
        if profile.backend == "onnxruntime":
            yield _onnxruntime_runner(module, example, profile)
        elif profile.backend == "cuda":
            yield _cuda_runner(module, example, profile)
        else:
            compiled = torch.compile(module) if profile.backend == "compile" else module
            yield _cpu_runner(lambda: compiled(example))
    finally:
        torch.set_num_threads(threads)
        module.train(was_training)


def _cpu_runner(forward: Callable[[], object]) -> Runner:
    def run() -> float:
        with torch.inference_mode():
            start = time.perf_counter()
            forward()
            return (time.perf_counter() - start) * 1e3

    return run


def _cuda_runner(module: nn.Module, example: torch.Tensor, profile: DeviceProfile) -> Runner:
    if not torch.cuda.is_available():
        raise ValueError(f"device profile {profile.name!r}: backend 'cuda' but no CUDA device")
    dtype = getattr(torch, profile.dtype)
    module = module.to("cuda", dtype)
    x = example.to("cuda", dtype)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def run() -> float:
        with torch.inference_mode():
            torch.cuda.synchronize()
            start.record()
            module(x)
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)

    return run


def _onnxruntime_runner(module: nn.Module, example: torch.Tensor, profile: DeviceProfile) -> Runner:
    import onnxruntime as ort  # only this backend needs it

    options = ort.SessionOptions()
    options.intra_op_num_threads = profile.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="mv2search-latency-") as tmp:
        path = export_onnx(
            module,
            Path(tmp) / "model.onnx",
            int(example.shape[-1]),
            exporter=profile.onnx_exporter,
            example=example,
        )
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: example.numpy()}

    def run() -> float:
        start = time.perf_counter()
        session.run(None, feed)
        return (time.perf_counter() - start) * 1e3

    return run
