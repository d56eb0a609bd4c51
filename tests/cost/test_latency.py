"""`mv2search.cost.latency`: the protocol's statistics, the fingerprint, processes and rounds."""

from __future__ import annotations

import math

import pytest
import torch

from mv2search.arch import ArchSpec, build_model
from mv2search.cost.device import DeviceProfile
from mv2search.cost.latency import LatencyStats, measure_latencies, measure_latency, measure_module

TINY = ArchSpec(width_multiplier=0.25, image_size=64, num_classes=10, name="tiny")


def _profile(backend: str = "eager", threads: int = 1, **changes: object) -> DeviceProfile:
    fields: dict = {"warmup": 3, "iters": 9, "max_warmup_s": 2.0, **changes}
    return DeviceProfile(name="test", backend=backend, threads=threads, **fields)


def _check(stats: LatencyStats, runs: int) -> None:
    for value in (stats.median_ms, stats.iqr_ms, stats.p90_ms, stats.mean_ms):
        assert math.isfinite(value) and value >= 0
    assert 0 < stats.median_ms <= stats.p90_ms
    assert stats.runs == runs and stats.warmup_runs >= 6  # at least two warm-up chunks


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_cpu_backends_give_sane_stats_and_restore_threads(backend: str) -> None:
    before = torch.get_num_threads()
    threads = 2 if before == 1 else 1  # differ from torch's setting so a leak would show
    stats = measure_latency(TINY, _profile(backend, threads))
    _check(stats, runs=9)
    assert (stats.backend, stats.threads) == (backend, threads)
    assert torch.get_num_threads() == before


def test_fingerprint_contents() -> None:
    stats = measure_latency(TINY, _profile("onnxruntime"))
    fingerprint = stats.fingerprint
    for key in (
        "cpu",
        "logical_cores",
        "threads",
        "backend",
        "dtype",
        "batch_size",
        "image_size",
        "torch",
        "onnxruntime",
        "onnx_exporter",
    ):
        assert key in fingerprint, key
    assert fingerprint["image_size"] == 64 and fingerprint["batch_size"] == 1
    assert fingerprint["dtype"] == "float32" and fingerprint["torch"] == torch.__version__
    assert LatencyStats.from_dict(stats.to_dict()) == stats


def test_statistics_follow_the_protocol() -> None:
    # A module whose run time we control: the median and p90 must come from the timed runs.
    class Sleeper(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            import time

            time.sleep(0.004)
            return x

    stats = measure_module(Sleeper(), torch.zeros(1, 3, 8, 8), _profile())
    assert 4.0 <= stats.median_ms < 40.0 and stats.settled
    assert stats.iqr_ms < stats.median_ms


def test_module_needs_image_size_and_keeps_its_mode() -> None:
    model = build_model(TINY)
    with pytest.raises(ValueError, match="image_size"):
        measure_latency(model, _profile())
    _check(measure_latency(model, _profile(), image_size=64), runs=9)
    assert model.training


def test_separate_processes() -> None:
    stats = measure_latency(TINY, _profile(processes=2))
    assert len(stats.process_medians_ms) == 2 and stats.runs == 18
    assert stats.median_ms == pytest.approx(sum(stats.process_medians_ms) / 2)
    assert stats.process_cv is not None and stats.process_cv >= 0


def test_interleaved_rounds() -> None:
    specs = [TINY, TINY.replace(width_multiplier=0.5)]
    results = measure_latencies(specs, _profile(), rounds=3)
    assert [r.runs for r in results] == [9, 9]
    assert results[0].median_ms < results[1].median_ms * 1.5  # the wider net is not much faster


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_events() -> None:
    stats = measure_latency(TINY, _profile("cuda"))
    _check(stats, runs=9)
    assert stats.fingerprint["gpu"]


def test_errors_name_the_field_or_profile(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"backend: 'tensorrt' is not allowed; allowed: \["):
        DeviceProfile(name="x", backend="tensorrt")
    with pytest.raises(
        ValueError, match=r"unknown device profile 'tpu'; available: \[.*cpu_ort_1t"
    ):
        measure_latency(TINY, "tpu")
    with pytest.raises(ValueError, match="threads: 0"):
        DeviceProfile(name="x", threads=0)
    with pytest.raises(ValueError, match="dtype: 'float16' is only allowed with backend 'cuda'"):
        DeviceProfile(name="x", dtype="float16")
    bad = tmp_path / "phone.yaml"
    bad.write_text("backend: eager\nthreds: 2\n")
    with pytest.raises(
        ValueError, match=r"phone.yaml: device profile: unknown key\(s\) \['threds'\]"
    ):
        measure_latency(TINY, str(bad))
    bad.write_text("backend: [eager\n")
    with pytest.raises(ValueError, match="phone.yaml: malformed YAML"):
        measure_latency(TINY, str(bad))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="backend 'cuda' but no CUDA device"):
            measure_latency(TINY, _profile("cuda"))


@pytest.mark.slow
def test_torch_compile_backend() -> None:
    # the first call compiles (tens of seconds on 2 cores); the warm-up absorbs it
    stats = measure_latency(TINY, _profile("compile", max_warmup_s=120.0))
    _check(stats, runs=9)
    assert stats.backend == "compile"
