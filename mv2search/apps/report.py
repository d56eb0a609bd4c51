"""`python report.py run=runs/<study> [storage_url=...]`: the report's command line (Hydra, as
the other apps: `--help` and `--cfg job` work; also installed as `mv2search-report`).

`main` composes `conf/reporting/report.yaml` with the command line; `run_report_app` rebuilds the
study's `report.html` (`mv2search.report.build_report`) and prints where it is.
"""

from __future__ import annotations

from omegaconf import DictConfig

from mv2search.apps.config import register_report_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.report import build_report

__all__ = ["APP", "cli", "main", "run_report_app"]


def run_report_app(cfg: DictConfig) -> int:
    """Build the report of a composed config.

    Args:
        cfg: The composed `report.yaml` config.

    Returns:
        The exit status: 0 done.

    Raises:
        ValueError: for an input error (no study there, a damaged store), naming the folder or
            file (printed by `mv2search.apps.entry`).
    """
    path = build_report(cfg.run, cfg.storage_url)
    print(f"report: {path}")
    return 0


APP = App(
    run=run_report_app,
    config_module="mv2search.conf.reporting",
    config_name="report",
    register=register_report_configs,
    missing_hint="e.g. run=runs/<study>",
    interrupted="the study is untouched (the report only reads it); run it again",
)
main, cli = hydra_entry(APP)
