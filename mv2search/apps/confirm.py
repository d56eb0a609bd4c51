"""`python confirm.py run=runs/<study>`: the confirmation's command line.

`main` composes `conf/confirm/confirm.yaml` with the command line; `run_confirm_app` runs the
confirmation (`mv2search.confirm.run_confirm`), prints its table and rebuilds the study's
report. Also installed as the `mv2search-confirm` command.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from mv2search.apps.config import register_confirm_configs
from mv2search.apps.entry import App, hydra_entry
from mv2search.confirm import run_confirm
from mv2search.report import build_report
from mv2search.report.confirmation import confirmation_text

__all__ = ["APP", "cli", "main", "run_confirm_app"]


def run_confirm_app(cfg: DictConfig) -> int:
    """Run the confirmation of a composed config, print it, rebuild the report.

    Args:
        cfg: The composed `confirm.yaml` config.

    Returns:
        The exit status: 0 done.

    Raises:
        ValueError: for an input error, naming the field or file (printed by
            `mv2search.apps.entry`).
    """
    outcome = run_confirm(OmegaConf.to_object(cfg))
    report = build_report(cfg.run, cfg.storage_url) if cfg.report else None
    print(confirmation_text(outcome.data))
    print(
        f"{outcome.trained} runs trained or resumed in {outcome.wall_s:.0f} s. Outputs: "
        f"{outcome.path} and {outcome.path.parent / 'proxy_vs_full.png'}"
        + (f"; report: {report}" if report else "")
    )
    return 0


APP = App(
    run=run_confirm_app,
    config_module="mv2search.conf.confirm",
    config_name="confirm",
    register=register_confirm_configs,
    missing_hint="e.g. run=runs/<study>",
    interrupted=(
        "finished runs are kept and the one in progress has its last checkpoint; run the same "
        "command again to resume"
    ),
)
main, cli = hydra_entry(APP)
