"""The scaling study (method.md 7): a GP over the global architecture factors, per-factor
sensitivity, and a downsizing rule under a MACs budget compared with published scaling rules.

Experimental (STYLE.md 15): the analysis and its outputs may change.
"""

from mv2search.scaling._experimental import ExperimentalWarning, experimental
from mv2search.scaling.analysis import ScalingAnalysis, analyse
from mv2search.scaling.downsize import DownsizePath, Step, downsize
from mv2search.scaling.gp import (
    CrossValidation,
    FactorGP,
    bootstrap_fits,
    cross_validate,
    fit_gp,
)
from mv2search.scaling.grid import FactorGrid
from mv2search.scaling.rules import RULES, RulePoint, scale_by_rule
from mv2search.scaling.run import ScaleOutcome, prepare, run_scale, summary
from mv2search.scaling.sensitivity import Sensitivity, factor_sensitivity, variance_indices
from mv2search.scaling.settings import ScaleAppConfig, ScalingConfig

__all__ = [
    "RULES",
    "CrossValidation",
    "DownsizePath",
    "ExperimentalWarning",
    "FactorGP",
    "FactorGrid",
    "RulePoint",
    "ScaleAppConfig",
    "ScaleOutcome",
    "ScalingAnalysis",
    "ScalingConfig",
    "Sensitivity",
    "Step",
    "analyse",
    "bootstrap_fits",
    "cross_validate",
    "downsize",
    "experimental",
    "factor_sensitivity",
    "fit_gp",
    "prepare",
    "run_scale",
    "scale_by_rule",
    "summary",
    "variance_indices",
]
