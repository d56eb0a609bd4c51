"""Confirm a search: python confirm.py run=runs/<study> [top_k=3] [trainer=full] [key=value ...]

Trains the study's top-K Pareto configs and the nearest published presets with the full recipe
(cut down for a CPU by conf/confirm/confirm.yaml), and writes runs/<study>/confirm/
(confirmation.json, proxy_vs_full.png) and the confirmation section of runs/<study>/report.html.
Running the same command again resumes it. Also installed as `mv2search-confirm`.
"""

from mv2search.apps.confirm import cli

if __name__ == "__main__":
    cli()
