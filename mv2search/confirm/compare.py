"""How well the proxy ranked the configs, and whether the found configs beat the presets.

- **Rank agreement.** Kendall's tau-b between proxy and full top-1 over every config that has
  both (found configs and presets), with its two-sided p-value (`scipy.stats.kendalltau`):
  `tau_b = (C - D) / sqrt((n0 - t_proxy) (n0 - t_full))`, where `C` and `D` count the concordant
  and discordant pairs, `n0 = n (n - 1) / 2` and `t_*` the pairs tied in one ranking [Kendall].
- **Verdict per pair** (a found config and the preset chosen for it): the found config *beats*
  the preset when it costs no more, every shared cost (`gmacs`, and `latency_ms` when both
  have one) at most `(1 + tolerance) x` the preset's, and its full accuracy is higher. One that
  costs more is `dominated` when it is not more accurate either, and gets no verdict when it is
  (a trade-off, not a comparison at equal cost).

References:
    .. [Kendall] M. G. Kendall, "The treatment of ties in ranking problems", Biometrika 33 (1945).
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import kendalltau

__all__ = ["COSTS", "compare_pair", "rank_agreement"]

COSTS = ("gmacs", "latency_ms")


def rank_agreement(proxy: list[float], full: list[float]) -> dict[str, Any]:
    """Kendall's tau-b of two accuracy lists over the same configs.

    Args:
        proxy: `n` proxy accuracies.
        full: The `n` full accuracies of the same configs.

    Returns:
        `{"tau": tau_b, "p_value": two-sided p, "n": n}`; `tau` and `p_value` are None when
        undefined (fewer than 2 configs, or one ranking all ties).
    """
    n = len(proxy)
    if n < 2:
        return {"tau": None, "p_value": None, "n": n}
    result = kendalltau(proxy, full)
    tau, p_value = float(result.statistic), float(result.pvalue)
    if math.isnan(tau):
        return {"tau": None, "p_value": None, "n": n}
    return {"tau": tau, "p_value": p_value, "n": n}


def compare_pair(found: dict[str, Any], preset: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """Whether a found config beats a preset at equal-or-lower cost (see the module docstring).

    Args:
        found: The found config's row (`name`, `full_accuracy` and the costs of `COSTS`).
        preset: The preset's row, alike.
        tolerance: Relative slack under which two costs count as equal (0.05: 5 %).

    Returns:
        `found`, `preset`, the costs compared (`{metric: [found, preset]}`), `cheaper_or_equal`,
        `more_accurate` (None without both full accuracies), `beats` (None for a trade-off or
        a missing accuracy) and `verdict` in words.
    """
    costs = {
        metric: [found[metric], preset[metric]]
        for metric in COSTS
        if found.get(metric) is not None and preset.get(metric) is not None
    }
    cheaper = all(f <= p * (1 + tolerance) for f, p in costs.values())
    accuracies = (found.get("full_accuracy"), preset.get("full_accuracy"))
    more_accurate = None if None in accuracies else accuracies[0] > accuracies[1]
    if more_accurate is None:
        beats, verdict = None, "no full accuracy"
    elif cheaper:
        beats = more_accurate
        verdict = "beats" if beats else "does not beat"
    elif more_accurate:  # a trade-off: more accurate at a higher cost
        beats, verdict = None, "costs more, more accurate: no verdict at equal cost"
    else:
        beats, verdict = False, "dominated: costs more and is not more accurate"
    return {
        "found": found["name"],
        "preset": preset["name"],
        "costs": costs,
        "cheaper_or_equal": cheaper,
        "more_accurate": more_accurate,
        "beats": beats,
        "verdict": verdict,
    }
