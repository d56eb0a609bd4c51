"""Rebuild a study's report: python report.py run=runs/<study> [storage_url=postgresql://...]

Writes runs/<study>/report.html (self-contained: open it with a double click) and the PNGs of its
figures under runs/<study>/report/. Reads the study store only, so it also works while the search
is running.
"""

import sys

from mv2search.report.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
