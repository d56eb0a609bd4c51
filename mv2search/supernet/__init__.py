"""Weight-sharing supernet over a search space: elastic width, depth, FFN and resolution, and a
choice of attention type per stage; `Supernet.extract(spec)` gives a stand-alone `build_model`."""

from mv2search.supernet.bounds import SupernetBounds
from mv2search.supernet.model import Supernet, stage_plans

__all__ = ["Supernet", "SupernetBounds", "stage_plans"]
