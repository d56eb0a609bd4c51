"""The scaling study of the global factors: python scale.py +space=mv2_global [group=option ...]

Samples and proxy-trains configs over resolution, width and the two depth multipliers as a
durable study under runs/<study>/ (rerun to resume; one more process is one more worker), fits a
GP to accuracy, and writes the sensitivity, posterior maps, cross-validation, downsized configs
and the baseline comparison to runs/<study>/scaling/. Also installed as `mv2search-scale`.
"""

from mv2search.apps.scale import cli

if __name__ == "__main__":
    cli()
