"""`python -m mv2search ...`: see `mv2search.apps.cli`."""

import sys

from mv2search.apps.cli import main

sys.exit(main())
