"""Device profiles (how to measure latency) and device fingerprints (where a number was measured).

A profile is a small YAML file in `conf/device/` (a Hydra config group): adding a device means
adding a file, not code. A fingerprint is everything a latency depends on besides the network:
processor or GPU, cores, threads, backend, dtype, batch size, input size and library versions. It is
stored with every measured number and is half of the latency cache key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mv2search.arch.spec import check_int

__all__ = [
    "BACKENDS",
    "DeviceProfile",
    "available_profiles",
    "device_fingerprint",
    "fingerprint_key",
    "load_device_profile",
    "profiles_dir",
]

BACKENDS = ("eager", "onnxruntime", "compile", "cuda")
DTYPES = ("float32", "float16", "bfloat16")
EXPORTERS = ("torchscript", "dynamo")


@dataclass(frozen=True)
class DeviceProfile:
    """How to measure latency on one device (see `mv2search.cost.latency` for the protocol)."""

    # Profile name (the YAML file's stem).
    name: str
    # "eager" (PyTorch CPU), "onnxruntime" (CPU), "compile" (torch.compile, CPU) or "cuda".
    backend: str = "eager"
    # Intra-op CPU threads (torch or ONNX Runtime).
    threads: int = 1
    # Images per forward pass.
    batch_size: int = 1
    # Weights and inputs: float32 everywhere; float16/bfloat16 on cuda only.
    dtype: str = "float32"
    # Warm-up: runs per chunk; chunks repeat until two chunk medians agree within settle_tolerance.
    warmup: int = 10
    # Relative tolerance between consecutive warm-up chunk medians.
    settle_tolerance: float = 0.05
    # Warm-up stops after this many seconds even if timings have not settled.
    max_warmup_s: float = 10.0
    # Timed runs (per process).
    iters: int = 50
    # Separate processes to repeat the measurement in (timings drift between processes).
    processes: int = 1
    # ONNX exporter for the onnxruntime backend: "torchscript" (0.2-1 s) or "dynamo" (5-10 s).
    onnx_exporter: str = "torchscript"
    # Free text.
    description: str = ""

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("onnx_exporter", self.onnx_exporter, EXPORTERS)
        if self.dtype != "float32" and self.backend != "cuda":
            raise ValueError(f"dtype: {self.dtype!r} is only allowed with backend 'cuda'")
        for field, low in (("threads", 1), ("batch_size", 1), ("warmup", 1), ("iters", 1)):
            check_int(field, getattr(self, field), low)
        check_int("processes", self.processes, 1)
        if not 0 < self.settle_tolerance < 1:
            raise ValueError(f"settle_tolerance: {self.settle_tolerance!r}; allowed: (0, 1)")
        if not self.max_warmup_s > 0:
            raise ValueError(f"max_warmup_s: {self.max_warmup_s!r}; allowed: a positive number")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProfile:
        """Build a profile from a mapping; unknown keys are an error listing the allowed ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"device profile: unknown key(s) {unknown}; allowed: {known}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)


def profiles_dir() -> Path:
    """The folder of device profile YAML files (`conf/device/` inside the package)."""
    return Path(__file__).resolve().parents[1] / "conf" / "device"


def available_profiles() -> list[str]:
    """Names of the profiles in `profiles_dir()`."""
    return sorted(path.stem for path in profiles_dir().glob("*.yaml"))


def load_device_profile(name_or_path: str | Path | DeviceProfile) -> DeviceProfile:
    """A profile by name (`conf/device/<name>.yaml`) or from a YAML file path.

    Raises:
        ValueError: for an unknown name (listing the available ones), a missing or malformed file,
            or an invalid field (naming it and the file).
    """
    import yaml

    if isinstance(name_or_path, DeviceProfile):
        return name_or_path
    text = str(name_or_path)
    path = Path(text) if text.endswith((".yaml", ".yml")) else profiles_dir() / f"{text}.yaml"
    if not path.is_file():
        if text.endswith((".yaml", ".yml")):
            raise ValueError(f"{path}: device profile file not found")
        raise ValueError(f"unknown device profile {text!r}; available: {available_profiles()}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: malformed YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of profile fields")
    data.setdefault("name", path.stem)
    try:
        return DeviceProfile.from_dict(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from err


def device_fingerprint(profile: DeviceProfile, image_size: int | None) -> dict[str, Any]:
    """Everything a latency depends on besides the network (JSON-serialisable).

    Args:
        profile: The measurement profile.
        image_size: Input side in pixels (None for a lookup table of blocks of many sizes).

    Returns:
        Processor or GPU name, cores, threads, backend, dtype, batch, input size, library versions.
    """
    import torch

    fingerprint = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "machine": platform.machine(),
        "backend": profile.backend,
        "threads": profile.threads,
        "dtype": profile.dtype,
        "batch_size": profile.batch_size,
        "image_size": image_size,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if profile.backend == "onnxruntime":
        import onnxruntime

        fingerprint["onnxruntime"] = onnxruntime.__version__
        fingerprint["onnx_exporter"] = profile.onnx_exporter
    if profile.backend == "cuda":
        fingerprint["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        fingerprint["cuda"] = torch.version.cuda
    return fingerprint


def fingerprint_key(fingerprint: dict[str, Any]) -> str:
    """A 16-hex-digit hash of a fingerprint (sorted-key JSON)."""
    blob = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not allowed; allowed: {list(allowed)}")
