"""`python -m counts` in a checkout: the admin CLI, installed as `python -m route_counter.cli`."""

from route_counter.cli.cli import main

raise SystemExit(main())
