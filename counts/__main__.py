"""`python -m counts`: see cli.py."""

import sys

from counts.cli import main

sys.exit(main())
