"""Reports of a study that need no account: `runs/<study>/report.html` and its PNGs."""

from mv2search.report.html import build_report

__all__ = ["build_report"]
