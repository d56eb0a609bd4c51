"""The typed config of `python scale.py` (Hydra schema `base_scale`) and its checks.

The scaling study is a search study (the same space, objectives, evaluator, store and workers as
`python search.py`) plus the `scaling` group: how the configs are sampled, how the GP analysis
is run, and the downsizing base and budgets. Every error names its `scaling.*` field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mv2search.search.settings import SearchAppConfig

__all__ = ["DESIGNS", "DownsizeConfig", "ScaleAppConfig", "ScalingConfig", "check_scaling"]

# sobol: a space-filling design (scrambled Sobol over the grid, every trial);
# pareto: the optimizer's own start, then qLogNEHVI on accuracy vs MACs (samples near the front)
DESIGNS = ("sobol", "pareto")


@dataclass
class DownsizeConfig:
    """Where the downsizing rule starts and the MACs budgets it derives models for."""

    base: str = "mobilevitv2_100"  # preset whose widths and depths the rule starts from
    image_size: int = 256  # the base's resolution
    budgets: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])  # x base MACs


@dataclass
class ScalingConfig:
    """Group `scaling`: the design and the GP analysis."""

    design: str = "sobol"  # one of DESIGNS
    n_bootstrap: int = 20  # GP refits on bootstrap resamples (index and lengthscale intervals)
    cv_folds: int = 10  # k-fold cross-validation of the GP (at most one fold per trial)
    map_points: int = 33  # points per axis of the 2-D posterior maps
    min_trials: int = 4  # COMPLETE trials the analysis needs
    # then train the base, derived and baseline configs in the confirmation stage
    train_comparison: bool = False
    # overrides of the confirmation recipe (conf/confirm/confirm.yaml), e.g.
    # [trainer.schedule_steps=100]
    confirm: list[str] = field(default_factory=list)
    downsize: DownsizeConfig = field(default_factory=DownsizeConfig)


@dataclass
class ScaleAppConfig(SearchAppConfig):
    """The whole `scale.py` config: a search config plus `scaling`."""

    scaling: ScalingConfig = field(default_factory=ScalingConfig)


def check_scaling(cfg: ScalingConfig) -> None:
    """Check the `scaling` group.

    Args:
        cfg: The group.

    Raises:
        ValueError: naming the field, its value and what is allowed.
    """
    if cfg.design not in DESIGNS:
        raise ValueError(f"scaling.design: {cfg.design!r}; allowed: {list(DESIGNS)}")
    minimum = {"n_bootstrap": 0, "cv_folds": 2, "map_points": 5, "min_trials": 3}
    for name, low in minimum.items():
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"scaling.{name}: expected an integer >= {low}, got {value!r}")
    budgets = list(cfg.downsize.budgets)
    if not budgets:
        raise ValueError(
            "scaling.downsize.budgets: expected a non-empty list of fractions in (0, 1]"
        )
    for i, value in enumerate(budgets):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 < value <= 1:
            raise ValueError(
                f"scaling.downsize.budgets[{i}]: expected a fraction of the base's MACs in "
                f"(0, 1], got {value!r}"
            )
    if len(set(budgets)) != len(budgets):
        raise ValueError(f"scaling.downsize.budgets: {budgets} lists a budget twice")
