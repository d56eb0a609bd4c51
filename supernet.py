"""Train the supernet of a search ahead of it: python supernet.py +space=mv2 [group=option ...]

Trains (or resumes, or reads back from the cache) the supernet that
`python search.py +space=mv2 evaluator.accuracy=supernet` with the same space, objectives
(budgets), data, seed, evaluator and runs_dir scores with, in runs/supernet/<key>/; the search
then trains nothing. Also installed as `mv2search-supernet`.
"""

from mv2search.apps.supernet import cli

if __name__ == "__main__":
    cli()
