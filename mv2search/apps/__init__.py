"""Every command-line shell of mv2search, the top layer: the Hydra apps (`search`, `train`,
`confirm`, `scale`, `report`: each a `run_*_app(cfg) -> int` behind `hydra_entry`), the argparse
`mv2search` command of the quick tools (`cli`), and what they share (`entry`: checks and exit
status; `config`: the schemas in Hydra's `ConfigStore`).

The work itself lives in each concern's package (`mv2search.search.run_search`,
`mv2search.train.run_train`, `mv2search.confirm.run_confirm`, `mv2search.scaling.run_scale`,
`mv2search.report.build_report`), callable without Hydra.
"""
