"""`python -m counts`: see and manage the counts from a terminal. The only place that resets or imports.

Works against the deployed table (``--table``, else ``pulumi stack output table_name``; the normal AWS
credential chain) or any DynamoDB endpoint, including `make dev` (``--endpoint http://127.0.0.1:8080``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from typing import Any, Iterator, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from handler import queries, schema
from handler.dynamo import create_client
from handler.routes import RouteError, RouteRules

LOCAL_TABLE = "route-counts-local"
CSV_FIELDS = ("route", "count", "methods", "firstSeen", "lastSeen")


class CliError(Exception):
    """A message for the user and exit status 2."""


def resolve_table(args: argparse.Namespace) -> str:
    """--table, else the local default with --endpoint, else the Pulumi stack's output."""
    if args.table:
        return args.table
    if args.endpoint:
        return LOCAL_TABLE
    if shutil.which("pulumi"):
        command = ["pulumi", "stack", "output", "table_name"] + (["--stack", args.stack] if args.stack else [])
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    raise CliError("no table: pass --table NAME (or run next to the Pulumi project with the pulumi CLI logged in)")


def make_client(args: argparse.Namespace) -> Any:
    if args.endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.endpoint
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # a local store wants some credentials
            os.environ.setdefault(name, "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    return create_client(retries=True)


def all_records(client: Any, table: str, prefix: str = "/") -> Iterator[dict[str, Any]]:
    after = None
    while True:
        page = queries.list_page(client, table, prefix, 1000, after)
        yield from page["routes"]
        if not page["next"]:
            return
        after = queries.decode_cursor(page["next"], prefix)


def canonical(route: str) -> str:
    try:
        return RouteRules().canonical(route, encoded=False)
    except RouteError as exc:
        raise CliError(f"{route!r}: {exc.message}") from None


def confirm(question: str, yes: bool, stdin: TextIO) -> None:
    if yes:
        return
    if not stdin.isatty():
        raise CliError(f"{question} -- not confirmed: pass --yes to run without a prompt")
    print(f"{question} [y/N] ", end="", flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("cancelled")


def print_table(records: list[dict[str, Any]], out: TextIO) -> None:
    width = max([len(f"{r['count']:,}") for r in records] + [5])
    print(f"{'hits':>{width}}  {'last seen (UTC)':19}  route", file=out)
    for r in records:
        print(f"{r['count']:>{width},}  {(r['lastSeen'] or '')[:19].replace('T', ' '):19}  {r['route']}", file=out)


def read_records(path: str) -> list[dict[str, Any]]:
    """Records from a JSON export ({"routes": [...]} or a list) or a CSV export, validated before any write."""
    with open(path, newline="", encoding="utf-8") as handle:
        if path.endswith(".csv"):
            rows = list(csv.DictReader(handle))
            for row in rows:
                row["methods"] = json.loads(row.get("methods") or "{}")
        else:
            data = json.load(handle)
            rows = data["routes"] if isinstance(data, dict) else data
    records = []
    for number, row in enumerate(rows, 1):
        try:
            count = int(row["count"])
            methods = {str(m): int(n) for m, n in (row.get("methods") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CliError(f"{path}: record {number} needs a route and a whole-number count") from None
        if count < 0 or any(n < 0 for n in methods.values()) or not set(methods) <= set(schema.COUNTED_METHODS):
            raise CliError(f"{path}: record {number} has a negative count or an unknown method")
        records.append({**row, "route": canonical(str(row["route"])), "count": count, "methods": methods})
    return records


def run(args: argparse.Namespace, out: TextIO = sys.stdout, stdin: TextIO = sys.stdin) -> int:
    table, client = resolve_table(args), make_client(args)
    if args.command == "list":
        print_table(sorted(all_records(client, table, canonical(args.prefix)), key=lambda r: (-r["count"], r["route"])), out)
    elif args.command == "get":
        record = queries.get_route(client, table, canonical(args.route))
        if not record:
            print(f"{canonical(args.route)} has not been hit", file=sys.stderr)
            return 1
        print(json.dumps(record, indent=2, ensure_ascii=False), file=out)
    elif args.command == "top":
        result = queries.top_routes(client, table, canonical(args.prefix), args.n)
        print_table(result["routes"], out)
        if result["truncated"]:
            print(f"(read the first {result['scanned']:,} routes only)", file=sys.stderr)
    elif args.command == "reset":
        route = canonical(args.route)
        record = queries.get_route(client, table, route)
        if not record:
            print(f"{route} has not been hit: nothing to reset", file=sys.stderr)
            return 1
        confirm(f"Reset {route} ({record['count']:,} hits) in {table}?", args.yes, stdin)
        client.delete_item(TableName=table, Key=schema.key(route))
        print(f"reset {route}", file=out)
    elif args.command == "export":
        records = list(all_records(client, table))
        if args.format == "json":
            json.dump({"routes": records}, out, indent=2, ensure_ascii=False)
            print(file=out)
        else:
            writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**r, "methods": json.dumps(r["methods"])} for r in records)
    elif args.command == "import":
        records = read_records(args.file)
        confirm(f"Import {len(records):,} routes into {table}, replacing their counts?", args.yes, stdin)
        for start in range(0, len(records), 25):
            requests = [{"PutRequest": {"Item": schema.record_to_item(r)}} for r in records[start:start + 25]]
            while requests:  # BatchWriteItem may hand some back under load: send those again
                unprocessed = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
                requests = unprocessed.get(table, [])
        print(f"imported {len(records):,} routes", file=out)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m counts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", help="DynamoDB table (default: pulumi stack output table_name)")
    p.add_argument("--stack", help="Pulumi stack to read table_name from")
    p.add_argument("--endpoint", help="DynamoDB endpoint, e.g. the local API http://127.0.0.1:8080")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    sub = p.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every route, most hit first")
    listing.add_argument("--prefix", default="/")
    sub.add_parser("get", help="one route's record").add_argument("route")
    top = sub.add_parser("top", help="the N most-hit routes")
    top.add_argument("n", type=int, choices=range(1, 1001), metavar="N (1-1000)")
    top.add_argument("--prefix", default="/")
    reset = sub.add_parser("reset", help="set a route back to zero (asks first)")
    reset.add_argument("route")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    export = sub.add_parser("export", help="all records to standard output")
    export.add_argument("--format", choices=("csv", "json"), default="json")
    imp = sub.add_parser("import", help="load records from an export (.json or .csv), replacing counts")
    imp.add_argument("file")
    imp.add_argument("--yes", action="store_true", help="do not ask")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
