"""Search the MobileViTv2 family: python search.py +space=mv2 [group=option ...]

Runs (or resumes) the study `runs/<study>/`; run it again, on this machine or another sharing
`storage.url`, for more workers on the same study. The same command is installed as
`mv2search-search`. `python search.py --presets` prints the table of published presets.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--presets"]:
        from mv2search.apps.cli import main

        sys.exit(main(["presets", *sys.argv[2:]]))
    from mv2search.apps.search import cli

    cli()
