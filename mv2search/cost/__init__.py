"""Cost of a spec: exact parameters and MACs (analytic), and a profiler cross-check with fvcore."""

from mv2search.cost.macs import FVCORE_HANDLES, count_macs
from mv2search.cost.params import count_params
from mv2search.cost.profile import fvcore_macs

__all__ = ["FVCORE_HANDLES", "count_macs", "count_params", "fvcore_macs"]
