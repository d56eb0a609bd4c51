"""`python report.py run=runs/<study> [storage_url=...]`: the report's command line (Hydra, as
the other apps: `--help` and `--cfg job` work; also installed as `mv2search-report`).

`main` composes `conf/report/report.yaml` with the command line; `run_report_app` rebuilds the
study's `report.html` (`mv2search.report.build_report`) and prints where it is.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mv2search.apps.config import register_report_configs
from mv2search.apps.entry import hydra_entry, missing_input
from mv2search.report import build_report

__all__ = ["cli", "main", "run_report_app"]


def run_report_app(cfg: DictConfig) -> int:
    """Build the report of a composed config.

    Args:
        cfg: The composed `report.yaml` config.

    Returns:
        The exit status: 0 done, 2 for an input error (printed, naming the folder or field).
    """
    if missing_input(cfg, "e.g. run=runs/<study>"):
        return 2
    try:
        path = build_report(cfg.run, cfg.storage_url)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


main, cli = hydra_entry(run_report_app, "mv2search.conf.report", "report", register_report_configs)
