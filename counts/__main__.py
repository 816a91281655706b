"""`python -m counts` in a checkout: the admin CLI, installed as `route-counter`."""

from route_counter.cli.entry import main

raise SystemExit(main("python -m counts"))
