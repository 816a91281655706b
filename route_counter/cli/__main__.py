"""`python -m route_counter.cli`: the admin CLI (see cli.py)."""

import sys

from route_counter.cli.entry import main

sys.exit(main("python -m route_counter.cli"))
