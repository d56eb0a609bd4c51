"""The main job. Until the search lands (issue 5) it prints the table of published presets.

Usage: python search.py [--latency]
"""

import sys

from mv2search.cli import main

if __name__ == "__main__":
    sys.exit(main(["presets", *sys.argv[1:]]))
