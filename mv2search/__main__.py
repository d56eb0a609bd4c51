"""`python -m mv2search ...`: see `mv2search.cli`."""

import sys

from mv2search.cli import main

sys.exit(main())
