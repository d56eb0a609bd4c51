"""Measured inference latency of one network on this machine: eager PyTorch or ONNX Runtime (CPU).

Protocol: `warmup` untimed runs, then `iters` runs each timed alone with `time.perf_counter` on one
fixed random input (`batch_size x 3 x image_size x image_size`, float32). We report the median and
the spread (IQR = p75 - p25, p90) rather than the mean alone, because CPU timings have a long right
tail (scheduler preemption, frequency changes). Thread counts are explicit: `threads` intra-op
threads, one inter-op thread; eager restores torch's previous `torch.get_num_threads()` afterwards.

Backends:
- "eager": `model.eval()` under `torch.inference_mode()` on the model's device (CUDA is synchronised
  after each run).
- "onnxruntime": the model exported with `mv2search.arch.export.export_onnx` (opset 18) and run by
  an `InferenceSession` on the `CPUExecutionProvider` with all graph optimisations (ORT_ENABLE_ALL).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mv2search.arch.export import export_onnx
from mv2search.arch.model import build_model
from mv2search.arch.spec import ArchSpec

__all__ = ["BACKENDS", "LatencyStats", "measure_latency"]

BACKENDS = ("eager", "onnxruntime")


@dataclass(frozen=True)
class LatencyStats:
    """Summary of `runs` timed forward passes, with the conditions they were measured under."""

    # Median latency of one forward pass, milliseconds.
    median_ms: float
    # Interquartile range (p75 - p25) of the latencies, milliseconds.
    iqr_ms: float
    # 90th percentile of the latencies, milliseconds.
    p90_ms: float
    # Mean latency, milliseconds (sensitive to outliers; prefer the median).
    mean_ms: float
    # Number of timed runs (warmup runs excluded).
    runs: int
    # Backend that ran the model: "eager" or "onnxruntime".
    backend: str
    # Intra-op threads used.
    threads: int
    # Images per forward pass.
    batch_size: int
    # Side of the square input, pixels.
    image_size: int
    # Device the model ran on ("cpu" for onnxruntime).
    device: str = "cpu"
    # Input and weight dtype.
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)


def measure_latency(
    model_or_spec: ArchSpec | nn.Module,
    image_size: int | None = None,
    *,
    backend: str = "eager",
    threads: int = 1,
    batch_size: int = 1,
    warmup: int = 10,
    iters: int = 50,
) -> LatencyStats:
    """Time forward passes of a network (see the module docstring for the protocol).

    Args:
        model_or_spec: A spec (the model is built from it, randomly initialised) or a built model.
        image_size: Input side in pixels; defaults to the spec's `image_size`, required for a model.
        backend: "eager" or "onnxruntime".
        threads: Intra-op threads of torch or of the ONNX Runtime session.
        batch_size: Images per forward pass.
        warmup: Untimed runs before timing.
        iters: Timed runs.

    Returns:
        The latency statistics, in milliseconds, with the conditions they were measured under.

    Raises:
        ValueError: for an unknown `backend`, a model without `image_size`, or a count out of range.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not allowed; allowed: {list(BACKENDS)}")
    if isinstance(model_or_spec, ArchSpec):
        model: nn.Module = build_model(model_or_spec)
        image_size = model_or_spec.image_size if image_size is None else image_size
    elif image_size is None:
        raise ValueError(
            "image_size: required when measuring an nn.Module (only a spec carries it)"
        )
    else:
        model = model_or_spec
    for name, value, low in (
        ("image_size", image_size, 1),
        ("threads", threads, 1),
        ("batch_size", batch_size, 1),
        ("warmup", warmup, 0),
        ("iters", iters, 1),
    ):
        _check_int(name, value, low)
    timer = _eager_timer if backend == "eager" else _onnxruntime_timer
    times_ms, device = timer(model, image_size, threads, batch_size, warmup, iters)
    return _summarise(times_ms, backend, threads, batch_size, image_size, device)


def _eager_timer(
    model: nn.Module, image_size: int, threads: int, batch_size: int, warmup: int, iters: int
) -> tuple[list[float], str]:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous_threads, was_training = torch.get_num_threads(), model.training
    torch.set_num_threads(threads)
    model.eval()
    try:
        with torch.inference_mode():
            times_ms = _time_runs(lambda: (model(image), sync()), warmup, iters)
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)
    return times_ms, str(device)


def _onnxruntime_timer(
    model: nn.Module, image_size: int, threads: int, batch_size: int, warmup: int, iters: int
) -> tuple[list[float], str]:
    import onnxruntime as ort  # heavy, and only needed by this backend

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory(prefix="mv2search-latency-") as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx", image_size, batch_size=batch_size)
        # The session holds the whole graph in memory, so the file may go with the directory.
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    image = rng.standard_normal((batch_size, 3, image_size, image_size), dtype=np.float32)
    times_ms = _time_runs(lambda: session.run(["logits"], {"image": image}), warmup, iters)
    return times_ms, "cpu"


def _time_runs(run: Callable[[], object], warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        run()
    times_ms = []
    for _ in range(iters):
        start = time.perf_counter()
        run()
        times_ms.append((time.perf_counter() - start) * 1e3)
    return times_ms


def _summarise(
    times_ms: list[float], backend: str, threads: int, batch_size: int, image_size: int, device: str
) -> LatencyStats:
    p25, median, p75, p90 = np.percentile(np.asarray(times_ms), [25, 50, 75, 90])
    return LatencyStats(
        median_ms=float(median),
        iqr_ms=float(p75 - p25),
        p90_ms=float(p90),
        mean_ms=float(np.mean(times_ms)),
        runs=len(times_ms),
        backend=backend,
        threads=threads,
        batch_size=batch_size,
        image_size=image_size,
        device=device,
    )


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: {value!r} is not allowed; expected an integer >= {low}")
