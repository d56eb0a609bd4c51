"""Latency predictor: a per-block lookup table (LUT) for one device, plus a fitted calibration.

A network's latency is predicted as the sum of its blocks' latencies, each measured alone on the
device with the same protocol as whole networks:

    raw(spec) = sum_b count_b * (t_b - t_0),    predicted(spec) = slope * raw(spec) + intercept

- blocks: the stem, each inverted-residual config (in, out, hidden, stride, input side), each
  MobileViT block's shell (local convs, unfold, final norm, fold, projection: everything but the
  attention layers; keyed by style, token layout, widths, patch and side), each attention layer by
  type (dim, FFN width, pixels per patch P, patches N, heads), the expansion conv and the head;
- t_0: the latency of an empty graph on the backend (a session call, a dispatch), measured once and
  subtracted from every block, since a network pays it once, not once per block;
- slope, intercept: least squares on relative error over calibration networks measured whole
  (`LatencyPredictor.calibrate`). They absorb what blocks measured alone miss: on ONNX Runtime
  with one thread here, large networks ran about 7 % faster than their blocks' sum (cache reuse,
  fusion across block boundaries) and networks under 10 ms up to 20 % slower (per-call costs).
  Per-group coefficients (convolutions, shells, each attention type) were tried and predicted
  held-out networks no better (leave-one-out on 30 networks: 96.7 % within +-10 % either way,
  MAPE 4.0 % vs 4.1 %), so the two-parameter form stays.

Blocks are measured in interleaved rounds (`measure_modules`), in shuffled chunks. Measured one
after another in key order, the blocks of one kind shared one stretch of machine time, and the
machine's drift (about 6 % over minutes here) became a per-kind bias: 90 % of 50 held-out networks
within +-10 % instead of 98 %.

Attention layers are what no public predictor models (nn-Meter covers CNN kernels only); here each
type is measured on the exact token layout the network uses.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from mv2search.arch.blocks import ConvNormAct, InvertedResidual, MobileViTBlock, attention_layer
from mv2search.arch.model import ClassifierHead
from mv2search.arch.spec import ArchSpec
from mv2search.cost.device import (
    DeviceProfile,
    device_fingerprint,
    fingerprint_key,
    load_device_profile,
)
from mv2search.cost.latency import measure_modules
from mv2search.cost.layout import Block, layout
from mv2search.cost.store import LatencyStore

__all__ = ["LatencyPredictor", "block_counts", "OVERHEAD_KEY"]

OVERHEAD_KEY = "overhead"
CHUNK = 200  # blocks measured together in interleaved rounds
ROUNDS = 10


def block_counts(spec: ArchSpec) -> Counter[str]:
    """The LUT keys of `spec` with how often each occurs (attention layers once per layer)."""
    counts: Counter[str] = Counter()
    for block in layout(spec):
        if block.kind == "mvit":
            counts[_shell_key(block, spec)] += 1
            counts[_layer_key(block, spec)] += block.depth
        else:
            counts[_plain_key(block)] += 1
    return counts


def _plain_key(block: Block) -> str:
    fields = (block.in_channels, block.out_channels, block.side, block.stride, block.hidden)
    return f"{block.kind}|" + "|".join(map(str, fields))


def _tokens(block: Block, patch: int) -> tuple[int, int]:
    padded = math.ceil(block.side / patch) * patch
    return patch * patch, (padded // patch) ** 2  # P, N


def _shell_key(block: Block, spec: ArchSpec) -> str:
    tokens = "cf" if block.attn_type == "separable" else "cl"
    fields = (
        spec.block_style,
        tokens,
        block.in_channels,
        block.attn_dim,
        spec.patch_size,
        block.side,
    )
    return "shell|" + "|".join(map(str, fields))


def _layer_key(block: Block, spec: ArchSpec) -> str:
    pixels, patches = _tokens(block, spec.patch_size)
    heads = spec.num_heads if block.attn_type == "mha" else 0
    fields = (block.attn_type, block.attn_dim, block.hidden, pixels, patches, heads)
    return "layer|" + "|".join(map(str, fields))


def _module_for_key(key: str, batch: int) -> tuple[nn.Module, torch.Tensor]:
    """Rebuild the module a LUT key stands for, with an example input of its shape."""
    kind, *raw = key.split("|")
    if kind == OVERHEAD_KEY:
        return nn.Identity(), torch.randn(batch, 8, 4, 4)
    if kind in ("stem", "mv2", "final_conv", "head"):
        c_in, c_out, side, stride, hidden = map(int, raw)
        example = torch.randn(batch, c_in, side, side)
        module: nn.Module = {
            "stem": lambda: ConvNormAct(3, c_out, 3, stride=2),
            "mv2": lambda: InvertedResidual(c_in, c_out, stride, hidden),
            "final_conv": lambda: ConvNormAct(c_in, c_out, 1),
            "head": lambda: ClassifierHead(c_in, c_out),
        }[kind]()
        return module, example
    if kind == "shell":
        style, tokens, channels, dim, patch, side = raw[0], raw[1], *map(int, raw[2:])
        attn_type = "separable" if tokens == "cf" else "mha"  # the shell has no attention layers
        shell = MobileViTBlock(channels, dim, 0, attn_type, 16, patch, 1, style)
        return shell, torch.randn(batch, channels, side, side)
    if kind == "layer":
        attn_type, (dim, hidden, pixels, patches, heads) = raw[0], map(int, raw[1:])
        layer = attention_layer(attn_type, dim, hidden, max(heads, 1))
        if attn_type == "separable":
            return layer, torch.randn(batch, dim, pixels, patches)
        return layer, torch.randn(batch * pixels, patches, dim)
    raise ValueError(f"unknown LUT key {key!r}")


class LatencyPredictor:
    """Predict a spec's latency on one device profile from a per-block lookup table."""

    def __init__(self, device: str | DeviceProfile, store: LatencyStore | None = None) -> None:
        self.profile = load_device_profile(device)
        self.store = store or LatencyStore()
        self.fingerprint = device_fingerprint(self.profile, None)
        self.key = fingerprint_key(self.fingerprint)
        self._lut = self.store.get_blocks(self.key)

    @property
    def lut(self) -> dict[str, float]:
        """The lookup table: block key -> median latency in microseconds."""
        return dict(self._lut)

    def missing(self, specs: Iterable[ArchSpec]) -> list[str]:
        """LUT keys that the specs need and the table does not have yet (sorted)."""
        needed = {OVERHEAD_KEY}
        for spec in specs:
            needed.update(block_counts(spec))
        return sorted(needed - set(self._lut))

    def measure_blocks(
        self, specs: Iterable[ArchSpec], progress: bool = True, chunk: int = CHUNK
    ) -> int:
        """Measure and store every block of `specs` not in the table yet; returns how many.

        Blocks are measured with the profile's protocol in interleaved rounds, `chunk` blocks at a
        time in shuffled order: measured one after another in key order, all attention layers of a
        type would share one stretch of machine time, and its drift would become a per-type bias.
        Each finished chunk is stored, so a killed build resumes where it stopped.
        """
        from tqdm import tqdm

        keys = self.missing(specs)
        order = np.random.default_rng(0).permutation(len(keys))
        batches = [[keys[i] for i in order[s : s + chunk]] for s in range(0, len(keys), chunk)]
        bar = tqdm(
            total=len(keys),
            desc=f"LUT {self.profile.name}",
            unit="block",
            disable=not progress or None,
            file=sys.stderr,
        )
        for batch in batches:
            items = [_module_for_key(key, self.profile.batch_size) for key in batch]
            stats = measure_modules(items, self.profile, rounds=ROUNDS)
            rows = {
                key: (s.median_ms * 1e3, s.iqr_ms * 1e3)
                for key, s in zip(batch, stats, strict=True)
            }
            self.store.put_blocks(self.key, self.fingerprint, rows)
            self._lut.update({key: value[0] for key, value in rows.items()})
            bar.update(len(batch))
        bar.close()
        return len(keys)

    def raw_us(self, spec: ArchSpec) -> float:
        """Sum of the spec's block latencies minus the per-block overhead, microseconds.

        Raises:
            ValueError: if blocks are missing from the table (run `measure_blocks` first).
        """
        missing = self.missing([spec])
        if missing:
            raise ValueError(
                f"the {self.profile.name} lookup table lacks {len(missing)} block(s) of this spec "
                f"(e.g. {missing[0]!r}); run `mv2search build-lut --device {self.profile.name}`"
            )
        overhead = self._lut[OVERHEAD_KEY]
        return sum(n * max(self._lut[key] - overhead, 0.0) for key, n in block_counts(spec).items())

    def calibration(self) -> dict[str, float]:
        """The stored calibration (`slope`, `intercept` in microseconds), or the identity."""
        return self.store.get_calibration(self.key) or {"slope": 1.0, "intercept": 0.0, "n": 0}

    def predict_us(self, spec: ArchSpec) -> float:
        """Predicted latency of `spec` in microseconds (calibrated when a calibration is stored)."""
        params = self.calibration()
        return params["slope"] * self.raw_us(spec) + params["intercept"]

    def calibrate(
        self, specs: Sequence[ArchSpec], measured_ms: Sequence[float]
    ) -> dict[str, float]:
        """Fit measured = slope * raw + intercept and store it.

        Least squares on relative error: minimise sum_i (predicted_i / measured_i - 1)^2, so that
        small and large networks count alike.

        Args:
            specs: Calibration networks (not the ones the predictor is validated on).
            measured_ms: Their measured whole-network latencies, milliseconds.

        Returns:
            The fitted `slope`, `intercept` (microseconds) and `n`.
        """
        raw = np.array([self.raw_us(spec) for spec in specs])
        measured = np.asarray(measured_ms, dtype=float) * 1e3
        design = np.stack([raw, np.ones_like(raw)], axis=1) / measured[:, None]
        (slope, intercept), *_ = np.linalg.lstsq(design, np.ones_like(measured), rcond=None)
        params = {"slope": float(slope), "intercept": float(intercept), "n": len(specs)}
        self.store.put_calibration(self.key, params)
        return params
