"""The admin CLI: `python -m counts --help`."""
