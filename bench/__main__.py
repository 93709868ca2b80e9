"""`python -m bench [--quick] [--only NAME,...] [--out DIR] ...`: see `bench.cli`."""

import sys

from bench.cli import main

sys.exit(main(sys.argv[1:]))
