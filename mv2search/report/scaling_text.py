"""The design principles of a scaling analysis, in plain words with the numbers behind them."""

from __future__ import annotations

from typing import Any

from mv2search.report.confirmation import budget_words

__all__ = ["Z90", "describe_point", "principles", "recipe_words"]

Z90 = 1.6448536269514722  # standard normal quantile of 0.95: a central 90 % interval

_RULE_NAMES = {
    "gp_downsize": "our rule",
    "alpha_only": "alpha-only (the published family)",
    "efficientnet": "EfficientNet compound",
    "dollar": "Dollar fast scaling",
}


def _pp(value: float) -> str:
    return f"{100 * value:.1f}"


def describe_point(labels: list[str], x: list[float]) -> str:
    """`r=224, w=0.75, d_i=1, d_m=1` for a point."""
    return ", ".join(f"{label}={value:g}" for label, value in zip(labels, x, strict=True))


def _sensitivity(a: Any) -> str:
    s, labels = a.sensitivity, dict(zip(a.names, a.labels, strict=True))
    parts = []
    for name in s["ranking"]:
        j = s["names"].index(name)
        lo, hi = s["total_interval"][j]
        parts.append(f"{labels[name]} (total index {s['total'][j]:.2f}, 90 % [{lo:.2f}, {hi:.2f}])")
    shortest = min(range(len(a.names)), key=lambda j: s["lengthscale"][j])
    return (
        f"Accuracy is most sensitive to {parts[0]}, then {', '.join(parts[1:])}; the shortest "
        f"ARD lengthscale is {a.labels[shortest]}'s ({s['lengthscale'][shortest]:.2f} of its "
        f"range). Indices are taken over the {a.domain['n_points']} grid points within the "
        f"study's budgets {a.domain['budgets']}."
    )


def _cuts(a: Any) -> str:
    path = a.paths[0]  # the smallest budget: the longest path
    counts = path["factor_counts"]
    label = dict(zip(a.names, a.labels, strict=True))
    order = sorted(counts, key=lambda n: -counts[n])
    lowest = [v == grid_min for v, grid_min in zip(a.base["x"], a.domain["lowest"], strict=True)]
    kept = [
        label[n] + (" (already at its lowest)" if lowest[j] else "")
        for j, n in enumerate(a.names)
        if n not in counts
    ]
    steps = path["steps"]
    first = steps[1] if len(steps) > 1 else None
    text = (
        f"Cheapest cuts: from {a.base['name']} at {a.base['image_size']} px "
        f"({a.base['gmacs']:.3g} GMACs, predicted {_pp(a.base['mean'])} %), reaching "
        f"{path['fraction']:g}x MACs takes {len(steps) - 1} steps: "
        + ", ".join(f"{counts[n]} in {label[n]}" for n in order)
    )
    if kept:
        text += f"; {', '.join(kept)} stays at the base"
    if first is not None:
        loss = steps[0]["mean"] - first["mean"]
        saved = steps[0]["gmacs"] - first["gmacs"]
        effect = f"costs {_pp(loss)} pp" if loss >= 0 else f"gains {_pp(-loss)} pp"
        text += (
            f". The first cut is {label[first['factor']]}: it {effect} (predicted) and saves "
            f"{saved:.3g} GMACs"
        )
    return text + "."


def _budget(a: Any, fraction: float) -> str:
    rows = [r for r in a.comparison if r["fraction"] == fraction]
    ours = rows[0]
    others = []
    for r in rows[1:]:
        flag = "" if r["within_budget"] else ", over budget"
        others.append(
            f"{_RULE_NAMES[r['rule']]} {_pp(r['mean'])} ± {_pp(Z90 * r['sd'])} % at "
            f"{r['gmacs']:.3g} GMACs{flag} (P(ours better) {r['p_ours_better']:.2f})"
        )
    return (
        f"At {fraction:g}x MACs ({ours['budget_gmacs']:.3g} GMACs) our rule derives "
        f"{describe_point(a.labels, ours['x'])}: {ours['gmacs']:.3g} GMACs, predicted "
        f"{_pp(ours['mean'])} ± {_pp(Z90 * ours['sd'])} %; " + "; ".join(others) + "."
    )


def _fit(a: Any) -> str:
    cv = a.cv
    better = cv["rmse"] < cv["rmse_mean_predictor"]
    verdict = "better than" if better else "no better than"
    return (
        f"How far to trust this: {cv['folds']}-fold cross-validation over {a.n_trials} trials "
        f"gives a held-out RMSE of {_pp(cv['rmse'])} pp ({verdict} the "
        f"{_pp(cv['rmse_mean_predictor'])} pp of predicting the mean), Spearman "
        f"{cv['spearman']:.2f}, Kendall {cv['kendall']:.2f}, and {100 * cv['coverage_90']:.0f} % "
        f"of trials inside their 90 % interval. Learned noise sd {_pp(a.gp['noise_sd'])} pp."
    )


def _trained(a: Any) -> str:
    t = a.trained
    parts = []
    for fraction, winner in t["winners"].items():
        rows = [r for r in t["rows"] if f"{r['fraction']:g}" == fraction and r["rule"] != "base"]
        scores = ", ".join(
            f"{r['rule']} {'-' if r['accuracy'] is None else _pp(r['accuracy'])}"
            + ("" if r["within_budget"] else " (over budget)")
            for r in rows
        )
        parts.append(f"at {fraction}x {scores} % (best within budget: {winner})")
    agreement = t["rank_agreement"]
    tau = "undefined" if agreement["tau"] is None else f"{agreement['tau']:.2f}"
    rmse = "-" if t["rmse"] is None else _pp(t["rmse"])
    return (
        f"Trained {recipe_words(t)}: "
        + "; ".join(parts)
        + f". GP predictions (of proxy accuracy) vs trained: RMSE {rmse} pp, Kendall tau {tau} "
        f"over {agreement['n']} configs."
    )


def recipe_words(trained: dict[str, Any]) -> str:
    """How the trained comparison trained, in words (older files: the study's proxy recipe)."""
    recipe = trained.get("recipe")
    if trained.get("stage") != "confirmation" or recipe is None:
        return f"with the study's proxy recipe ({trained['trainer']}, one seed each)"
    return (
        f"in the confirmation stage ({trained['trainer']} recipe, "
        f"{budget_words(recipe['trainer'])} at {recipe['resolution_scale']:g}x resolution, "
        "one seed each)"
    )


def principles(analysis: Any) -> list[str]:
    """The study's design principles, one sentence group each, with their numbers.

    Args:
        analysis: A `ScalingAnalysis` (all but `principles` filled).

    Returns:
        Plain-text paragraphs: sensitivity ranking, the cheapest cuts, each budget against the
        baselines, the fit quality behind them and, once trained, the trained comparison.
    """
    fractions = sorted({r["fraction"] for r in analysis.comparison})
    return [
        _sensitivity(analysis),
        _cuts(analysis),
        *(_budget(analysis, f) for f in fractions),
        _fit(analysis),
        *([_trained(analysis)] if analysis.trained else []),
    ]
