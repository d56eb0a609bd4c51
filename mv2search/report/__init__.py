"""How a study reads: `runs/<study>/report.html` and its PNGs, the files a search leaves
(`trials.csv`, `pareto.json`, ...), the trial tables and the figures.

Reads the study store and the JSON files the later stages write (confirmation, scaling); imports
no training code, so a report can be built on any machine that has the study.
"""

from mv2search.report.html import build_report
from mv2search.report.outputs import write_outputs
from mv2search.report.tables import spec_cells, summary_table, trial_rows

__all__ = ["build_report", "spec_cells", "summary_table", "trial_rows", "write_outputs"]
