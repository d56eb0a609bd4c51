"""Rebuild a study's report: python report.py run=runs/<study> [storage_url=postgresql://...]

Writes runs/<study>/report.html (self-contained: open it with a double click) and the PNGs of its
figures under runs/<study>/report/. Reads the study store only, so it also works while the search
is running. Also installed as `mv2search-report`.
"""

from mv2search.apps.report import cli

if __name__ == "__main__":
    cli()
