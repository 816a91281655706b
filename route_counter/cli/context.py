"""What every `python -m counts` command shares: its errors and exit statuses, the stack's outputs, and the
context a command runs in (the store, the table, the stack's route rules and days)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from route_counter.handler import clock
from route_counter.handler.rules import buckets
from route_counter.handler.rules.routes import RouteRules
from route_counter.handler.store import queries
from route_counter.infra import settings as stack

PROJECT = "route-counter"  # Pulumi.yaml's name
LOCAL_TABLE = "route-counts-local"
LOCAL_METER_TABLE = LOCAL_TABLE + "-meter"  # what `make dev` creates for metering (local/__main__.py)
# `--endpoint` asks the local API for the stack config it runs with (timezone, route rules, countsPath,
# meter), so the CLI reads and meters by the same rules as the handlers there. Loopback only, like the rest.
LOCAL_CONFIG_TARGET = "RouteCounterLocal.StackConfig"
# Loopback alone does not prove the caller is this machine's user: a TCP forwarder (ngrok, `ssh -R`) makes
# anyone's request arrive from 127.0.0.1. So the local API answers DynamoDB calls only with the token it
# writes, readable by its own user alone, to local_token_file(port) while it runs; the CLI sends it.
LOCAL_TOKEN_HEADER = "X-Route-Counter-Token"


def is_loopback(host: str) -> bool:
    """Whether a URL's host (``localhost``, ``127.0.0.1``, ``[::1]``...) names this machine: the only place
    plain http:// may go, since every request carries the AWS access key id and session token."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_token_file(port: int) -> Path:
    """Where the local API listening on ``port`` keeps its admin token while it runs."""
    base = os.environ.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return Path(base) / "route-counter" / f"local-api-{port}.token"


def read_local_token(port: int) -> str:
    """The running local API's token ("" when none is readable: the server then refuses the call)."""
    try:
        return local_token_file(port).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return ""


# Exit statuses (docs/admin-cli.md): 0 done, 1 AWS or the store failed, 2 a user error, 3 no such route.
NOT_FOUND = 3


class CliError(Exception):
    """A message for the user and exit status 2 (``status`` says otherwise)."""

    status = 2


class StoreFailed(CliError):
    """The store refused part way: the message says what was written. Exit status 1, as for any AWS error."""

    status = 1


def stack_output(args: argparse.Namespace, name: str) -> str | None:
    """A stack output, read with the pulumi CLI; None without it (or without that output)."""
    if not shutil.which("pulumi"):
        return None
    command = ["pulumi", "stack", "output", name] + (["--stack", args.stack] if args.stack else [])
    result = subprocess.run(command, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def stack_name(args: argparse.Namespace) -> str:
    """--stack, else the pulumi CLI's selected stack."""
    if args.stack:
        return str(args.stack)
    result = subprocess.run(["pulumi", "stack", "--show-name"], capture_output=True, text=True) if shutil.which("pulumi") else None
    if result is None or result.returncode != 0 or not result.stdout.strip():
        raise CliError("no stack: pass --stack NAME")
    return result.stdout.strip()


def resolve_meter_table(args: argparse.Namespace) -> str:
    """--meter-table, else the local one with --endpoint, else the stack's meter_table_name output."""
    if getattr(args, "meter_table", None):
        return str(args.meter_table)
    if args.endpoint:
        return LOCAL_METER_TABLE
    found = stack_output(args, "meter_table_name")
    if found:
        return found
    raise CliError("no metering table: pass --meter-table NAME (the stack's meter_table_name output; "
                   "the stack meters nothing without meter or meterLogGroup)")


class Context(NamedTuple):
    """What every command works with: the store, the table, and the stack's route rules and days."""

    client: Any
    table: str
    rules: RouteRules
    days: buckets.Days
    settings: stack.StackSettings

    def view(self, window: str | None = None, series: bool = False) -> queries.View:
        """How records are read: as of now (the one wall clock the handlers use), in the stack's days, every
        region's items of a global table summed (replicaRegions: run the CLI on the table's own stack)."""
        return queries.View(clock.now(), window, series, self.days, ("", *self.settings.replica_regions))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(row: Iterable[Any]) -> list[Any]:
    """A CSV row a spreadsheet shows as text: a cell that begins with =, +, -, @, a tab or a carriage return
    would be read as a formula (CSV injection), so it gets a leading apostrophe. Numbers stay numbers."""
    return [f"'{cell}" if isinstance(cell, str) and cell[:1] in FORMULA_STARTS else cell for cell in row]


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """How a number of things reads in a message: "1 hit", "1,234 hits", "2 deliveries" (``plural`` when not +s)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
