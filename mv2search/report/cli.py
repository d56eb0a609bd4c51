"""`python report.py run=runs/<study> [storage_url=...]`: the report's command line.

Arguments are `key=value` pairs, as in the project's Hydra commands: `run` (required), and
`storage_url` for a study that lives in a database server.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mv2search.report.html import build_report

__all__ = ["main"]

KEYS = ("run", "storage_url")


def main(argv: Sequence[str]) -> int:
    """Build the report; returns 0, or 2 with a message naming the bad argument."""
    args = {}
    for token in argv:
        key, sep, value = token.partition("=")
        if not sep or key not in KEYS:
            print(f"error: {token!r}: expected key=value with key in {list(KEYS)}", file=sys.stderr)
            return 2
        args[key] = value
    if "run" not in args:
        print("error: run=runs/<study> is required", file=sys.stderr)
        return 2
    try:
        path = build_report(args["run"], args.get("storage_url"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0
