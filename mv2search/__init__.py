"""mv2search: hardware-aware architecture search and scaling studies of MobileViTv2-family
models.

The package exports the architecture and its exact cost; each concern is a subpackage with its
own exports: `mv2search.search` (`run_search`), `mv2search.train` (`run_train`),
`mv2search.confirm` (`run_confirm`), `mv2search.scaling` (`run_scale`), `mv2search.report`
(`build_report`), `mv2search.study` (the store of trials).
"""

from mv2search.arch import PRESETS, ArchSpec, build_model, get_preset
from mv2search.cost import count_macs, count_params

__all__ = ["ArchSpec", "PRESETS", "build_model", "count_macs", "count_params", "get_preset"]
__version__ = "0.1.0"
