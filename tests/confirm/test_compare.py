"""`mv2search.confirm.compare`: Kendall's tau-b against hand counts, and the pair verdicts."""

import itertools
import math

import pytest

from mv2search.confirm.compare import compare_pair, rank_agreement


def kendall_tau_b(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b by counting pairs: (C - D) / sqrt((n0 - t_x) (n0 - t_y))."""
    concordant = discordant = tied_x = tied_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        tied_x += dx == 0
        tied_y += dy == 0
        concordant += dx * dy > 0
        discordant += dx * dy < 0
    n0 = len(x) * (len(x) - 1) / 2
    return (concordant - discordant) / math.sqrt((n0 - tied_x) * (n0 - tied_y))


def test_one_swapped_pair_of_four_gives_two_thirds():
    # 6 pairs, one discordant (0.2/0.3 swapped): tau = (5 - 1) / 6
    agreement = rank_agreement([0.1, 0.2, 0.3, 0.4], [0.15, 0.35, 0.25, 0.45])
    assert agreement["tau"] == pytest.approx(2 / 3)
    assert agreement["n"] == 4
    # exact null distribution of n = 4: 8 of the 24 orders have |tau| >= 2/3
    assert agreement["p_value"] == pytest.approx(8 / 24)


def test_ties_use_tau_b():
    proxy, full = [0.1, 0.1, 0.3, 0.4, 0.2], [0.2, 0.3, 0.3, 0.5, 0.1]
    assert rank_agreement(proxy, full)["tau"] == pytest.approx(kendall_tau_b(proxy, full))


def test_undefined_for_one_config_or_a_constant_ranking():
    assert rank_agreement([0.5], [0.4]) == {"tau": None, "p_value": None, "n": 1}
    assert rank_agreement([0.1, 0.2, 0.3], [0.4, 0.4, 0.4])["tau"] is None


def _row(name, gmacs, latency, full):
    return {"name": name, "gmacs": gmacs, "latency_ms": latency, "full_accuracy": full}


def test_a_found_config_beats_a_preset_only_at_equal_or_lower_cost():
    preset = _row("p", 0.40, 20.0, 0.60)
    beats = compare_pair(_row("f", 0.41, 19.0, 0.65), preset, tolerance=0.05)
    assert beats["beats"] is True and beats["verdict"] == "beats"
    assert beats["costs"] == {"gmacs": [0.41, 0.40], "latency_ms": [19.0, 20.0]}
    worse = compare_pair(_row("f", 0.30, 15.0, 0.55), preset, tolerance=0.05)
    assert worse["beats"] is False and worse["verdict"] == "does not beat"
    slower = compare_pair(_row("f", 0.30, 25.0, 0.70), preset, tolerance=0.05)
    assert slower["beats"] is None and slower["verdict"].startswith("costs more, more accurate")
    dominated = compare_pair(_row("f", 0.50, 19.0, 0.60), preset, tolerance=0.05)
    assert dominated["beats"] is False and dominated["verdict"].startswith("dominated")
    no_latency = compare_pair(_row("f", 0.30, None, 0.70), preset, tolerance=0.05)
    assert no_latency["costs"] == {"gmacs": [0.30, 0.40]} and no_latency["beats"] is True
    failed = compare_pair(_row("f", 0.30, 15.0, None), preset, tolerance=0.05)
    assert failed["beats"] is None and failed["verdict"] == "no full accuracy"
