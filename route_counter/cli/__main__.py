"""`python -m counts`: see cli.py."""

import sys

from route_counter.cli.cli import main

sys.exit(main())
