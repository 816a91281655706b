"""The admin CLI: `python -m counts --help` in a checkout, `route-counter --help` once installed."""
