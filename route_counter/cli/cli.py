"""The admin CLI: its commands, and the parser whose `--help` (DESCRIPTION) says what it is for."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Iterator, NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from route_counter.cli import ingest, metering
from route_counter.cli.context import (LOCAL_CONFIG_TARGET, LOCAL_TABLE, LOCAL_TOKEN_HEADER, NOT_FOUND, CliError, Context,
                                      StoreFailed, count_of, is_loopback, read_local_token, spreadsheet_safe,
                                      stack_output)
from route_counter.handler import clock
from route_counter.handler.rules import buckets, parts, schema
from route_counter.handler.rules import settings as env
from route_counter.handler.rules.countries import COUNTRY_PREFIX
from route_counter.handler.rules.routes import RouteError, RouteRules, printable
from route_counter.handler.store import queries
from route_counter.handler.store.dynamo import create_client
from route_counter.infra import settings as stack

CSV_FIELDS = ("route", "count", "methods", "firstSeen", "lastSeen", "hourly", "daily", "countries", "visitors",
              "dailyVisitors", "bots", "statuses")
JSON_FIELDS = ("methods", "hourly", "daily", "countries", "dailyVisitors", "statuses")  # CSV columns holding JSON objects
BATCH = 25  # BatchWriteItem's limit
BATCH_TRIES = 8  # attempts for items DynamoDB hands back unprocessed (throttling), with backoff between
BACKOFF_BASE, BACKOFF_CAP = 0.05, 2.0  # seconds


_ENDPOINT = re.compile(r"^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?/?$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")  # us-east-1, us-gov-west-1, eu-central-2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other user error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def stack_config(stack_name: str | None) -> dict[str, Any]:
    """The stack's config as `pulumi config` shows it (our keys only, no secrets); {} without the CLI."""
    if not shutil.which("pulumi"):
        return {}
    command = ["pulumi", "config", "--json"] + (["--stack", stack_name] if stack_name else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {}
    try:
        shown = json.loads(result.stdout)
    except ValueError:
        return {}
    prefix, keys = "route-counter:", set(stack.schema())
    return {
        key[len(prefix):]: entry.get("value")
        for key, entry in shown.items()
        if key.startswith(prefix) and key[len(prefix):] in keys and isinstance(entry, dict) and not entry.get("secret")
    }


def check_endpoint(endpoint: str) -> tuple[bool, int]:
    """--endpoint: (whether it is this machine's loopback, its port); CliError for anything else than an
    http(s) URL with a port that exists, and for plain http:// off loopback (the requests carry the AWS
    access key id and session token, in clear over http)."""
    found = _ENDPOINT.fullmatch(endpoint)
    if not found:
        raise CliError(f"--endpoint must be an http:// or https:// URL like http://127.0.0.1:8080, got {endpoint!r}")
    scheme, host, port_text = found.groups()
    port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise CliError(f"--endpoint port must be from 1 to 65535, got {port_text}")
    loopback = is_loopback(host)
    if scheme == "http" and not loopback:
        raise CliError(f"--endpoint {endpoint} is plain http:// off this machine: your AWS credentials would cross "
                       "the network in clear; use https://, or http:// only to 127.0.0.1, localhost or [::1]")
    return loopback, port


def local_headers(endpoint: str) -> dict[str, str]:
    """What a request to the local API at ``endpoint`` carries to prove its caller started it (its token)."""
    loopback, port = check_endpoint(endpoint)
    token = read_local_token(port) if loopback else ""
    return {LOCAL_TOKEN_HEADER: token} if token else {}


def local_config(endpoint: str) -> dict[str, Any]:
    """The stack config the local API at ``endpoint`` runs with (`make dev`'s flags); {} from any other
    DynamoDB-compatible store, which has none."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint, data=b"{}", method="POST",
                                     headers={"X-Amz-Target": LOCAL_CONFIG_TARGET, **local_headers(endpoint),
                                              "Content-Type": "application/x-amz-json-1.0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            found = json.loads(answer.read()).get("config")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return {}
    keys = set(stack.schema())
    return {k: v for k, v in found.items() if k in keys} if isinstance(found, dict) else {}


def stack_settings(args: argparse.Namespace) -> stack.StackSettings:
    """The settings the deployed handlers use: the stack's config (through the same parser as `pulumi up`),
    or with --endpoint the local API's own, unless --max-route-bytes / --counts-path / --timezone say
    otherwise."""
    raw = local_config(args.endpoint) if args.endpoint else stack_config(args.stack)
    for option, key in (("max_route_bytes", "maxRouteBytes"), ("counts_path", "countsPath"), ("timezone", "timezone")):
        if getattr(args, option) is not None:
            raw[key] = getattr(args, option)
    try:
        return stack.parse(raw)
    except stack.SettingsError as exc:
        raise CliError(str(exc)) from None


def resolve_table(args: argparse.Namespace) -> str:
    """--table, else the local default with --endpoint, else the Pulumi stack's output."""
    if args.table:
        return args.table
    if args.endpoint:
        return LOCAL_TABLE
    found = stack_output(args, "table_name")
    if found:
        return found
    raise CliError("no table: pass --table NAME (or run next to the Pulumi project with the pulumi CLI logged in)")


def make_client(args: argparse.Namespace) -> Any:
    if args.region and not _REGION.fullmatch(args.region):
        raise CliError(f"--region must be an AWS region name like us-east-1, got {args.region!r}")
    if args.endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.endpoint
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # a local store wants some credentials
            os.environ.setdefault(name, "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    client = create_client(retries=True, read_timeout=ADMIN_READ_TIMEOUT)
    headers = local_headers(args.endpoint) if args.endpoint else {}
    if headers:
        def prove(request: Any, **_: Any) -> None:
            for name, value in headers.items():
                request.headers[name] = value

        client.meta.events.register_first("before-sign.dynamodb", prove)
    return client


def all_records(client: Any, table: str, prefix: str, seen: queries.View) -> Iterator[dict[str, Any]]:
    after = None
    while True:
        page = queries.list_page(client, table, prefix, 1000, after, seen)
        yield from page["routes"]
        if not page["next"]:
            return
        after = queries.decode_cursor(page["next"], prefix)


def canonical(rules: RouteRules, route: str) -> str:
    """A route as the counter stores it (decoded input: the CLI takes routes as typed)."""
    try:
        return rules.canonical(route, encoded=False)
    except RouteError as exc:
        raise CliError(f"{route!r}: {exc.message}") from None


def exact_route(ctx: Context, route: str) -> str:
    """A route to write as typed: refused when the counter would store it under another name (normalised,
    or matched by a ``routeTemplates`` template), outside ``allowPrefixes``, or under the listing path, so
    `set` and `delete` never touch a key no hit could reach. A metered API's routes (``/shop/...``) are
    its own templates: only normalised."""
    stored = canonical(ctx.rules, route)
    metered = any(stored == f"/{n}" or stored.startswith(f"/{n}/") for n in ctx.settings.metered_names())
    try:
        counted = stored if metered else ctx.rules.resolve(stored, encoded=False)
    except RouteError as exc:
        raise CliError(f"{route}: {exc.message}") from None
    if counted != route:
        raise CliError(f"{route!r} is counted as {counted!r}: use that")
    return counted


def count_value(text: str) -> int:
    """A count to set: a whole number DynamoDB can hold (argparse type)."""
    try:
        return _count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _others(client: Any, table: str, route: str, regions: tuple[str, ...]) -> list[dict[str, Any]]:
    """A route's items other than its home head: its other regions' heads and every hot part."""
    return [item for item in queries.route_items(client, table, route, regions) if item[schema.KEY]["S"] != route]


def set_count(client: Any, table: str, route: str, n: int, now: float, regions: tuple[str, ...] = ("",)) -> int | None:
    """Make the route's count n (creating the route if need be: moving from another counter); its methods,
    history and firstSeen stay. A hot route's parts give up exactly the counts read from them (an atomic ADD
    of the negative each), so the hits that land meanwhile are kept. Returns the count it replaced (None:
    a new route)."""
    others = _others(client, table, route, regions)
    for item in others:
        shown = item.get(schema.COUNT, {}).get("N", "0")
        if shown != "0":
            client.update_item(TableName=table, Key=schema.key(item[schema.KEY]["S"]), UpdateExpression="ADD #count :less",
                               ExpressionAttributeNames={"#count": schema.COUNT}, ExpressionAttributeValues={":less": {"N": str(-int(shown))}})
    result = client.update_item(
        TableName=table, Key=schema.key(route),
        UpdateExpression="SET #count = :n, #first = if_not_exists(#first, :now)",
        ExpressionAttributeNames={"#count": schema.COUNT, "#first": schema.FIRST_SEEN},
        ExpressionAttributeValues={":n": {"N": str(n)}, ":now": {"S": schema.iso(now)}},
        ReturnValues="UPDATED_OLD",
    )
    old = result.get("Attributes", {}).get(schema.COUNT)
    if old is None and not others:
        return None
    return (int(old["N"]) if old else 0) + sum(int(i.get(schema.COUNT, {}).get("N", "0")) for i in others)


def delete_route(client: Any, table: str, route: str, regions: tuple[str, ...] = ("",)) -> int | None:
    """Remove the route's items (its head, then its parts); the count they held, or None if there was none."""
    others = _others(client, table, route, regions)
    old = client.delete_item(TableName=table, Key=schema.key(route), ReturnValues="ALL_OLD").get("Attributes")
    held = [old] if old else []
    for item in others:
        gone = client.delete_item(TableName=table, Key=schema.key(item[schema.KEY]["S"]), ReturnValues="ALL_OLD").get("Attributes")
        held += [gone] if gone else []
    return sum(int(i.get(schema.COUNT, {}).get("N", "0")) for i in held) if held else None


def whole_number(text: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
    return int(text)


def confirm(question: str, yes: bool, stdin: TextIO) -> None:
    if yes:
        return
    if not stdin.isatty():
        raise CliError(f"{question} -- not confirmed: pass --yes to run without a prompt")
    print(f"{question} [y/N] ", end="", flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("cancelled")


def print_table(records: list[dict[str, Any]], out: TextIO, window: str | None = None) -> None:
    """Hits (and hits in the window, with one; visitors and bots, where counted), last seen, route."""
    columns = [("hits", "count")] + ([(window, "windowCount")] if window else [])
    columns += [(name, name) for name in (schema.VISITORS, schema.BOTS) if any(r.get(name) for r in records)]
    width = max([len(f"{r['count']:,}") for r in records] + [7])
    print("  ".join(f"{title:>{width}}" for title, _ in columns) + f"  {'last seen (UTC)':19}  route", file=out)
    for r in records:
        cells = "  ".join(f"{r.get(key, 0):>{width},}" for _, key in columns)
        print(f"{cells}  {(r['lastSeen'] or '')[:19].replace('T', ' '):19}  {printable(r['route'])}", file=out)


def _rows(path: str) -> list[tuple[str, Any]]:
    """(where, raw record) pairs from a JSON export ({"routes": [...]} or a list) or a CSV export."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            if path.endswith(".csv"):
                return [(f"line {n}", row) for n, row in enumerate(csv.DictReader(handle), 2)]
            data = json.load(handle)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    except (ValueError, csv.Error) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CliError(f"{path}: not a JSON or CSV export ({exc})") from None
    except RecursionError:
        raise CliError(f"{path}: not an export (JSON nested too deep)") from None
    rows = data.get("routes") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise CliError(f'{path}: expected {{"routes": [...]}} or a list of records')
    return [(f"record {n}", row) for n, row in enumerate(rows, 1)]


def _record(rules: RouteRules, row: Any) -> dict[str, Any]:
    """One validated record, or ValueError naming what is wrong."""
    if not isinstance(row, dict) or not isinstance(row.get("route"), str):
        raise ValueError("needs a route")
    objects = {}
    for name in JSON_FIELDS:
        value = row.get(name) or {}
        if isinstance(value, str):  # CSV: these columns hold JSON
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f'{name} must be an object like {{"GET": 3}}')
        objects[name] = {str(k): _count(n) for k, n in value.items()}
    methods = objects["methods"]
    count = _count(row.get("count"))
    if not set(methods) <= set(schema.RECORDED_METHODS):
        raise ValueError(f"unknown method in {sorted(methods)}")
    route = rules.canonical(row["route"], encoded=False)
    if any(route == r or route.startswith(r + "/") for r in rules.reserved):
        raise ValueError(f"{route} is under the listing path, which is never counted")
    seen = {name: row.get(name) or None for name in ("firstSeen", "lastSeen")}
    for name, value in seen.items():
        if value is not None and not (isinstance(value, str) and _SEEN.fullmatch(value) and _real_time(value)):
            raise ValueError(f"{name} must be a UTC time as the export writes it, like 2026-11-24T05:06:07.089Z")
    extra = {name: _count(row[name]) for name in (schema.VISITORS, schema.BOTS) if row.get(name) not in (None, "")}
    record = {"route": route, "count": count, **objects, **extra, **{k: v for k, v in seen.items() if v}}
    size = schema.item_size(schema.record_to_item(record))  # bucket times, country codes: ValueError
    if size > schema.MAX_ITEM_BYTES:
        raise ValueError(f"its item would be {size:,} bytes, over DynamoDB's {schema.MAX_ITEM_BYTES:,}")
    return record


_SEEN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z")  # schema.iso's form


def _real_time(text: str) -> bool:
    import datetime

    try:
        datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


def _count(value: Any) -> int:
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"count {value!r} is not a whole number of 0 or more")
    number = int(text) if len(text) <= schema.MAX_DIGITS + 1 else schema.MAX_NUMBER
    if number > schema.MAX_SET_COUNT:
        raise ValueError(f"count {text[:24]}{'...' if len(text) > 24 else ''} leaves no room for more hits in "
                         f"DynamoDB's {schema.MAX_DIGITS} digits: at most {schema.MAX_SET_COUNT:,}")
    return number


def read_records(path: str, rules: RouteRules) -> list[dict[str, Any]]:
    """Every record validated and de-duplicated before any write: two records for one route (after
    normalisation, say /a and /a/) are an error naming both, never a guess at which one wins."""
    records: list[dict[str, Any]] = []
    where_of: dict[str, str] = {}
    for where, row in _rows(path):
        try:
            record = _record(rules, row)
        except (ValueError, RouteError) as exc:
            message = exc.message if isinstance(exc, RouteError) else str(exc)
            raise CliError(f"{path}: {where}: {message}") from None
        if record["route"] in where_of:
            raise CliError(f"{path}: {where_of[record['route']]} and {where} are both {record['route']}")
        where_of[record["route"]] = where
        records.append(record)
    return records


def write_records(client: Any, table: str, records: list[dict[str, Any]],
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """BatchWriteItem in 25s; items handed back unprocessed are sent again after a jittered backoff. If
    the store still fails, StoreFailed says which records were written (each write replaces a route's
    counts, so importing the same file again is safe)."""
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        requests = [{"PutRequest": {"Item": schema.record_to_item(r)}} for r in batch]
        for attempt in range(BATCH_TRIES):
            try:
                unprocessed = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
            except (BotoCoreError, ClientError) as exc:  # nothing of this batch is known to be written
                raise StoreFailed(f"{exc}; {_written(len(records), start, len(batch), len(requests))}") from None
            requests = unprocessed.get(table, [])
            if not requests:
                break
            sleep(random.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 6)))
        else:
            raise StoreFailed(f"DynamoDB kept refusing {count_of(len(requests), 'record')} (throttled) after {BATCH_TRIES} tries; "
                              f"{_written(len(records), start, len(batch), len(requests))}")


def _written(total: int, start: int, batch: int, left: int) -> str:
    """What is certainly written: every record before this batch, and those of it not handed back."""
    of_batch = batch - left
    part = f", and {of_batch} of records {start + 1:,} to {start + batch:,}" if of_batch else ""
    return (f"{start + of_batch:,} of {total:,} records were written (records 1 to {start:,}{part}); each replaces "
            "its route's counts, so importing the same file again is safe")


def reset(client: Any, table: str, record: dict[str, Any]) -> dict[str, Any]:
    """Subtract exactly the counts shown (one atomic ADD of their negatives), so hits that land between
    showing and resetting are kept; firstSeen and lastSeen stay. The hourly and daily series and the
    countries, visitors and bots shown are removed. Returns the route's new attributes."""
    names = {"#count": schema.COUNT, "#route": schema.KEY}
    values = {":shown": {"N": str(-record["count"])}}
    adds = ["#count :shown"]
    for i, (method, n) in enumerate(sorted(record["methods"].items())):
        names[f"#m{i}"] = schema.method_attribute(method)
        values[f":m{i}"] = {"N": str(-n)}
        adds.append(f"#m{i} :m{i}")
    # A bucket may have expired since it was shown: subtracting from it would leave a negative one.
    shown = [name for name in schema.record_to_item(record)
             if buckets.is_bucket(name) or name.startswith(COUNTRY_PREFIX) or name in (schema.BOTS, schema.VISITORS)]
    for i, name in enumerate(shown):
        names[f"#x{i}"] = name
    expression = "ADD " + ", ".join(adds) + (" REMOVE " + ", ".join(f"#x{i}" for i in range(len(shown))) if shown else "")
    result = client.update_item(
        TableName=table, Key=schema.key(record["route"]), UpdateExpression=expression,
        ConditionExpression="attribute_exists(#route)", ExpressionAttributeNames=names,
        ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW",
    )
    return result.get("Attributes", {})


def hit_record(ctx: Context, route: str, verb: str) -> dict[str, Any] | None:
    """The route's record as it stands, or None after saying there is nothing to ``verb``."""
    record = queries.get_route(ctx.client, ctx.table, route, ctx.view())
    if not record:
        print(f"{route} has not been hit: nothing to {verb}", file=sys.stderr)
    return record


def gone(route: str, verb: str) -> int:
    """The route vanished between showing it and acting on it (another reset or delete, or TTL)."""
    print(f"{route} was removed meanwhile: nothing to {verb}", file=sys.stderr)
    return NOT_FOUND


def list_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    seen = ctx.view(args.window)
    records = all_records(ctx.client, ctx.table, canonical(ctx.rules, args.prefix), seen)
    print_table(sorted(records, key=seen.rank), out, args.window)
    return 0


def get_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    route = canonical(ctx.rules, args.route)
    record = queries.get_route(ctx.client, ctx.table, route, ctx.view())
    if not record:
        print(f"{route} has not been hit", file=sys.stderr)
        return NOT_FOUND
    print(json.dumps(record, indent=2, ensure_ascii=False), file=out)
    return 0


def top_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    result = queries.top_routes(ctx.client, ctx.table, canonical(ctx.rules, args.prefix), args.n, ctx.view(args.window))
    print_table(result["routes"], out, args.window)
    if result["truncated"]:
        print(f"(read the first {count_of(result['scanned'], 'route')} only)", file=sys.stderr)
    return 0


def reset_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    route = canonical(ctx.rules, args.route)
    view = ctx.view()
    items = queries.route_items(ctx.client, ctx.table, route, view.regions)  # read once: shown, then subtracted
    if not items:
        print(f"{route} has not been hit: nothing to reset", file=sys.stderr)
        return NOT_FOUND
    shown = view.record(parts.merge(route, items))
    confirm(f"Reset {route} ({count_of(shown['count'], 'hit')}) in {ctx.table}?", args.yes, stdin)
    left, reset_any = 0, False
    for item in items:  # each part gives up what it showed
        try:
            left += int(reset(ctx.client, ctx.table, view._replace(series=True).record(item)).get(schema.COUNT, {}).get("N", "0"))
            reset_any = True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
    if not reset_any:
        return gone(route, "reset")
    since = f"; {count_of(left, 'hit')} arrived since it was shown and {'is' if left == 1 else 'are'} kept" if left else ""
    print(f"reset {route}: {count_of(shown['count'], 'hit')} set back to zero (first seen kept){since}", file=out)
    return 0


def set_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    route = exact_route(ctx, args.route)
    record = queries.get_route(ctx.client, ctx.table, route, ctx.view())
    now = count_of(record['count'], "hit") if record else "never hit"
    confirm(f"Set {route} ({now}) to {count_of(args.count, 'hit')} in {ctx.table}?", args.yes, stdin)
    old = set_count(ctx.client, ctx.table, route, args.count, clock.now(), ctx.view().regions)
    was = f"was {old:,}" if old is not None else "a new route"
    print(f"set {route} to {count_of(args.count, 'hit')} ({was}; its methods, history and first seen are kept)", file=out)
    return 0


def delete_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    route = exact_route(ctx, args.route)
    record = hit_record(ctx, route, "delete")
    if not record:
        return NOT_FOUND
    confirm(f"Delete {route} ({count_of(record['count'], 'hit')}, its history and first seen) from {ctx.table}?", args.yes, stdin)
    old = delete_route(ctx.client, ctx.table, route, ctx.view().regions)
    if old is None:
        return gone(route, "delete")
    print(f"deleted {route} ({count_of(old, 'hit')}); a new hit starts it again from 1", file=out)
    return 0


def export_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    records = list(all_records(ctx.client, ctx.table, "/", ctx.view(series=True)))
    if args.format == "json":
        json.dump({"routes": records}, out, indent=2, ensure_ascii=False)
        print(file=out)
    else:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in records:
            cells = {**r, **{k: json.dumps(r.get(k, {})) for k in JSON_FIELDS},
                     **{k: r.get(k, 0) for k in (schema.VISITORS, schema.BOTS)}}
            writer.writerow(spreadsheet_safe(cells.get(name, "") for name in CSV_FIELDS))
    return 0


def import_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    records = read_records(args.file, ctx.rules)
    confirm(f"Import {count_of(len(records), 'route')} into {ctx.table}, replacing their counts?", args.yes, stdin)
    write_records(ctx.client, ctx.table, records)
    print(f"imported {count_of(len(records), 'route')}", file=out)
    return 0


COMMANDS: dict[str, Callable[[Context, argparse.Namespace, TextIO, TextIO], int]] = {
    "list": list_command, "get": get_command, "top": top_command, "reset": reset_command, "set": set_command,
    "delete": delete_command, "export": export_command, "import": import_command, "usage": metering.usage_command,
    "ingest": ingest.ingest_command, "meter-replay": metering.meter_replay_command,
}


def run(args: argparse.Namespace, out: TextIO | None = None, stdin: TextIO | None = None) -> int:
    out, stdin = out or sys.stdout, stdin or sys.stdin  # at call time: tests and pipes swap them
    for name in GLOBAL_OPTIONS:  # not given anywhere (SUPPRESS: see global_options)
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.endpoint:
        check_endpoint(args.endpoint)  # before anything is sent to it
    table, settings = resolve_table(args), stack_settings(args)
    rules = env.Settings.from_env(settings.handler_environment(table), RULE_VARIABLES).rules  # the counter's own
    ctx = Context(make_client(args), table, rules, buckets.Days(settings.timezone), settings)
    return COMMANDS[args.command](ctx, args, out, stdin)


# The CLI is no hot path: it waits for a slow store (a 100-item transaction takes 1-6 s in `make dev`'s
# embedded one) rather than time out and re-send.
ADMIN_READ_TIMEOUT = 60.0
# What the counter's route rules are made of (not METERED: the CLI may set a metered route).
RULE_VARIABLES = (env.TABLE_NAME, env.MAX_ROUTE_BYTES, env.ALLOW_PREFIXES, env.ROUTE_TEMPLATES, env.COUNTS_PATH)
GLOBAL_OPTIONS = ("table", "stack", "endpoint", "region", "max_route_bytes", "counts_path", "timezone")


def global_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (``list --endpoint URL`` works too). Their
    default is SUPPRESS, so a sub-command's absent option never hides one given before it."""
    g = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    g.add_argument("--table", help="DynamoDB table (default: pulumi stack output table_name)")
    g.add_argument("--stack", help="Pulumi stack to read table_name from")
    g.add_argument("--endpoint", help="DynamoDB endpoint, e.g. the local API http://127.0.0.1:8080")
    g.add_argument("--region", help="AWS region (default: your AWS configuration)")
    g.add_argument("--max-route-bytes", help="the stack's maxRouteBytes (default: from the stack, else Pulumi.yaml)")
    g.add_argument("--counts-path", help="the stack's countsPath (default: from the stack, else Pulumi.yaml)")
    g.add_argument("--timezone", help="the stack's timezone: whose calendar days `daily` and 7d/30d windows are "
                                      "(default: from the stack, else Pulumi.yaml)")
    return g


# What `--help` says first: the name the CLI was started as, and nothing that needs a checkout of the repository.
DESCRIPTION = """{prog}: see and manage the counts from a terminal; the only place that sets, resets, deletes or
imports (nothing reachable over HTTP writes anything but hits). It reads the deployed table (--table, else
`pulumi stack output table_name`, with your normal AWS credentials), or the local API with
--endpoint http://127.0.0.1:8080.
Exit statuses: 0 done, 1 an AWS or store error, 2 a user error, 3 the route has not been hit."""


def parser(prog: str = "python -m counts") -> argparse.ArgumentParser:
    common = global_options()
    p = Parser(prog=prog, description=DESCRIPTION.format(prog=prog), parents=[common],
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    windows = {"choices": tuple(buckets.WINDOWS), "help": "rank by hits in this window (routes without any left out)"}
    listing = command("list", "every route, most hit first")
    listing.add_argument("--prefix", default="/")
    listing.add_argument("--window", **windows)
    command("get", "one route's record").add_argument("route")
    top = command("top", "the N most-hit routes")
    top.add_argument("n", type=lambda text: whole_number(text, 1, queries.MAX_TOP), metavar="N",
                     help=f"1 to {queries.MAX_TOP}")
    top.add_argument("--prefix", default="/")
    top.add_argument("--window", **windows)
    reset = command("reset", "set a route's counts back to zero, keeping first seen (asks first)")
    reset.add_argument("route")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    setter = command("set", "make a route's count N (asks first); methods, history and first seen stay")
    setter.add_argument("route")
    setter.add_argument("count", type=count_value, metavar="N")
    setter.add_argument("--yes", action="store_true", help="do not ask")
    delete = command("delete", "remove a route and everything counted for it (asks first)")
    delete.add_argument("route")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    export = command("export", "all records to standard output")
    export.add_argument("--format", choices=("csv", "json"), default="json")
    imp = command("import", "load records from an export (.json or .csv), replacing counts")
    imp.add_argument("file")
    imp.add_argument("--yes", action="store_true", help="do not ask")
    meter_table = {"help": "the metering table (default: the stack's meter_table_name output; locally its own)"}
    usage = command("usage", "metered requests per API key and route in a month (usage-based billing)")
    usage.add_argument("--month", help="YYYY-MM, UTC (default: this month)")
    usage.add_argument("--format", choices=("table", "csv", "json"), default="table")
    usage.add_argument("--meter-table", **meter_table)
    ingest = command("ingest", "meter access-log lines from a file (JSON lines, or `aws logs filter-log-events` JSON)")
    ingest.add_argument("file", nargs="?", help="the access-log lines (leave out with --abandon)")
    ingest.add_argument("--source", required=True, help="the metered API's name: its routes count under /NAME")
    ingest.add_argument("--abandon", action="store_true", help="give up the window a stopped ingest left (its "
                                                               "lines are marked ingested: none counts twice)")
    ingest.add_argument("--until", help="only requests before this time (ISO-8601 with zone): when the "
                                        "subscription started, so nothing is counted twice")
    ingest.add_argument("--since", help="only requests at or after this time (ISO-8601 with zone): with --until, "
                                        "a gap no subscription delivered (docs/metering.md)")
    ingest.add_argument("--meter-table", **meter_table)
    replay = command("meter-replay", "meter the deliveries waiting in the dead-letter queue, exactly once")
    replay.add_argument("--queue-url", help="default: the stack's meter_dead_letter_queue_url output")
    replay.add_argument("--meter-table", **meter_table)
    return p


def main(argv: list[str] | None = None, prog: str = "python -m counts") -> int:
    args = parser(prog).parse_args(argv)
    try:
        return run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except (BotoCoreError, ClientError) as exc:  # one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `export | head`: the reader stopped reading; say nothing more, as shell tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped the same way
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
