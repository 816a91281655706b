"""The admin CLI's entry points: `route-counter` (installed with the `cli` extra), `python -m route_counter.cli`
and, in a checkout, `python -m counts`. The CLI talks to DynamoDB through boto3, which the components do not
need: an install without the extra gets one line saying how to add it, not a traceback."""

from __future__ import annotations

import sys

INSTALL_HINT = "the admin CLI needs boto3: pip install 'route-counter[cli]'"
MISSING_EXIT = 2  # a setup mistake of the user's, like any other usage error (docs/admin-cli.md)


def main(prog: str, argv: list[str] | None = None) -> int:
    try:
        from route_counter.cli.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("boto3", "botocore"):
            raise
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return MISSING_EXIT
    return cli_main(argv, prog=prog)


def script() -> int:
    """The `route-counter` console script."""
    return main("route-counter")
