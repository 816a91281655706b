"""The admin CLI from a checkout: `python -m counts` runs route_counter.cli (never installed)."""
