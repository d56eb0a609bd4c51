"""`mv2search.cost.latency`: both backends give sane statistics and leave torch's threads alone."""

from __future__ import annotations

import math

import pytest
import torch

from mv2search.arch import ArchSpec, build_model
from mv2search.cost.latency import BACKENDS, LatencyStats, measure_latency

TINY = ArchSpec(width_multiplier=0.25, image_size=64, num_classes=10, name="tiny")


def _check_stats(stats: LatencyStats, backend: str, threads: int, iters: int) -> None:
    for value in (stats.median_ms, stats.iqr_ms, stats.p90_ms, stats.mean_ms):
        assert math.isfinite(value) and value >= 0
    assert 0 < stats.median_ms <= stats.p90_ms
    assert stats.runs == iters
    assert (stats.backend, stats.threads) == (backend, threads)
    assert (stats.batch_size, stats.image_size, stats.device) == (1, TINY.image_size, "cpu")
    assert stats.to_dict()["median_ms"] == stats.median_ms


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_gives_positive_finite_stats_and_restores_threads(backend: str) -> None:
    before = torch.get_num_threads()
    threads = 2 if before == 1 else 1  # differ from torch's setting so a leak would show
    stats = measure_latency(TINY, backend=backend, threads=threads, warmup=2, iters=7)
    _check_stats(stats, backend, threads, iters=7)
    assert torch.get_num_threads() == before


def test_module_needs_image_size_and_keeps_its_mode() -> None:
    model = build_model(TINY)
    with pytest.raises(ValueError, match="image_size"):
        measure_latency(model)
    stats = measure_latency(model, 64, warmup=1, iters=3)
    _check_stats(stats, "eager", 1, iters=3)
    assert model.training


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("backend", {"backend": "tensorrt"}),
        ("threads", {"threads": 0}),
        ("iters", {"iters": 0}),
        ("warmup", {"warmup": -1}),
        ("batch_size", {"batch_size": 0}),
    ],
)
def test_bad_argument_names_the_field(field: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=field) as info:
        measure_latency(TINY, **kwargs)  # type: ignore[arg-type]
    if field == "backend":
        assert all(name in str(info.value) for name in BACKENDS)
