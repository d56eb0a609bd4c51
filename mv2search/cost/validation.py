"""How well a latency predictor ranks and predicts measured networks: the numbers and a plot.

Metrics over n networks with measured m_i and predicted p_i:
- MAPE = mean_i |p_i - m_i| / m_i;
- share within +-10 % = mean_i [|p_i - m_i| <= 0.1 m_i] (nn-Meter's headline metric);
- Kendall's tau between the two orderings (what a search needs: which network is faster).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mv2search.arch.spec import ArchSpec
from mv2search.cost.latency import measure_latencies
from mv2search.cost.predictor import LatencyPredictor

__all__ = ["PredictionReport", "prediction_report", "scatter_figure", "validate_predictor"]


@dataclass(frozen=True)
class PredictionReport:
    """Measured vs predicted latencies of n networks, and the metrics of the module docstring."""

    measured_ms: list[float]
    predicted_ms: list[float]
    mape: float
    within_10pct: float
    kendall_tau: float
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line with the metrics."""
        return (
            f"{len(self.measured_ms)} networks: MAPE {self.mape * 100:.1f} %, "
            f"{self.within_10pct * 100:.0f} % within +-10 %, Kendall tau {self.kendall_tau:.3f}"
        )

    def write(self, json_path: str | Path, png_path: str | Path | None = None) -> None:
        """Write the report as JSON and, if asked, the measured-vs-predicted scatter plot."""
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(asdict(self), indent=2))
        if png_path is not None:
            _scatter(self, Path(png_path))


def prediction_report(
    measured_ms: list[float], predicted_ms: list[float], meta: dict[str, Any] | None = None
) -> PredictionReport:
    """Compute the metrics of the module docstring.

    Args:
        measured_ms: Measured latencies, milliseconds.
        predicted_ms: Predicted latencies of the same networks, milliseconds.
        meta: Free-form context kept with the report (device, seeds, calibration).

    Returns:
        The report.
    """
    from scipy.stats import kendalltau

    measured, predicted = np.asarray(measured_ms, float), np.asarray(predicted_ms, float)
    if measured.shape != predicted.shape or measured.size < 2:
        raise ValueError("measured_ms/predicted_ms: need two lists of equal length >= 2")
    relative = np.abs(predicted - measured) / measured
    return PredictionReport(
        measured_ms=measured.tolist(),
        predicted_ms=predicted.tolist(),
        mape=float(relative.mean()),
        within_10pct=float((relative <= 0.10).mean()),
        kendall_tau=float(kendalltau(measured, predicted).statistic),
        meta=dict(meta or {}),
    )


def _scatter(report: PredictionReport, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = scatter_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scatter_figure(report: PredictionReport) -> Any:
    """Predicted vs measured latency (log-log), the +-10 % band and the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured, predicted = np.asarray(report.measured_ms), np.asarray(report.predicted_ms)
    low, high = (
        0.9 * min(measured.min(), predicted.min()),
        1.1 * max(measured.max(), predicted.max()),
    )
    line = np.array([low, high])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="tab:green", alpha=0.15, label="+-10 %")
    ax.plot(line, line, color="tab:green", lw=1)
    ax.scatter(measured, predicted, s=18, color="tab:blue", zorder=3)
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(low, high),
        ylim=(low, high),
        xlabel="measured latency (ms)",
        ylabel="predicted latency (ms)",
    )
    ax.set_title(report.meta.get("title", "latency predictor"), fontsize=10)
    ax.text(
        0.03,
        0.97,
        report.summary().replace(": ", ":\n"),
        transform=ax.transAxes,
        va="top",
        fontsize=8,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def validate_predictor(
    predictor: LatencyPredictor,
    calibration_specs: Sequence[ArchSpec],
    validation_specs: Sequence[ArchSpec],
    rounds: int = 10,
) -> PredictionReport:
    """Measure calibration and validation networks in one interleaved pass, calibrate, predict.

    Both sets are measured in the same pass because the whole machine drifts between passes
    (about 6 % here): the calibration absorbs that drift, the validation networks never enter it.
    Blocks missing from the lookup table are measured first.

    Args:
        predictor: The predictor of the device to validate.
        calibration_specs: Networks the calibration is fitted on.
        validation_specs: Held-out networks the metrics are computed on.
        rounds: Interleaved rounds of the network measurements.

    Returns:
        The report on the validation networks (its `meta` holds the calibration).
    """
    all_specs = [*calibration_specs, *validation_specs]
    predictor.measure_blocks(all_specs)
    stats = measure_latencies(all_specs, predictor.profile, rounds=rounds)
    measured = [s.median_ms for s in stats]
    calibration = predictor.calibrate(calibration_specs, measured[: len(calibration_specs)])
    predicted = [predictor.predict_us(spec) / 1e3 for spec in validation_specs]
    meta = {
        "device": predictor.profile.name,
        "fingerprint": stats[0].fingerprint | {"image_size": None},
        "calibration": calibration,
        "n_calibration": len(calibration_specs),
        "signatures": [spec.signature for spec in validation_specs],
        "title": f"latency predictor, {predictor.profile.name}",
    }
    return prediction_report(measured[len(calibration_specs) :], predicted, meta)
