"""The metering commands of `python -m counts`: usage per API key, ingesting access-log files, and replaying
the dead-letter queue, all through the metering function's own exactly-once path (handler/meter.py)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from collections import Counter
from typing import TextIO

from handler import clock
from handler.meter import handle, meter
from handler.rules import accesslog
from handler.rules.settings import METER_VARIABLES, Settings
from handler.rules.sources import parse_sources
from handler.store import queries
from handler.store.meter import ChunkFailed
from infra import settings as stack
from counts.context import PROJECT, CliError, Context, StoreFailed, resolve_meter_table, stack_name, stack_output

INGEST_BATCH = 10_000  # lines metered together (a CloudWatch Logs delivery holds up to 10,000 events)


def usage_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    month = args.month or time.strftime("%Y-%m", time.gmtime(clock.now()))
    try:
        found = queries.usage_month(ctx.client, resolve_meter_table(args), queries.check_month(month))
    except queries.BadQuery as exc:
        raise CliError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(found, indent=2, ensure_ascii=False), file=out)
    elif args.format == "csv":  # one row per consumer and route: what an invoice needs
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("month", "consumer", "route", "requests"))
        writer.writerows((month, c["consumer"], route, n) for c in found["consumers"] for route, n in c["routes"].items())
    else:
        for c in found["consumers"]:
            print(f"{c['count']:>12,}  {c['consumer']}", file=out)
    if found["truncated"]:
        print(f"(read the first {queries.MAX_USAGE_ITEMS:,} usage items only)", file=sys.stderr)
    return 0


def meter_settings(ctx: Context, meter_table: str, project_stack: tuple[str, str] | None = None) -> Settings:
    """The metering function's own settings for this stack (its route rules, days and sources), so the CLI
    meters through exactly the function's path."""
    group = stack.own_group_name(*project_stack) if project_stack else ""
    environment = ctx.settings.handler_environment(ctx.table, "", "", "", meter_table, group)
    return Settings.from_env(environment, METER_VARIABLES)


def _ingest_lines(path: str) -> list[tuple[str, str]]:
    """(event id, line) pairs from JSON lines or `aws logs filter-log-events` JSON; ids stable per file, so
    ingesting the same file again counts nothing twice."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("events"), list):  # filter-log-events
        found = []
        for n, event in enumerate(data["events"], 1):
            if not isinstance(event, dict) or not isinstance(event.get("message"), str):
                raise CliError(f"{path}: event {n} has no message")
            found.append((str(event.get("eventId") or f"event{n}"), event["message"]))
        return found
    lines = [line for line in text.splitlines() if line.strip()]
    return [(f"{n}:{hashlib.sha256(line.encode()).hexdigest()[:16]}", line) for n, line in enumerate(lines, 1)]


def ingest_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    try:
        parse_sources(f"{args.source}=/ingest")
    except ValueError:
        raise CliError(f"--source must be 1-32 of a-z, 0-9 and - (the metered API's name), got {args.source!r}") from None
    events = _ingest_lines(args.file)
    if args.until:
        until = iso_time(args.until)
        kept = []
        for event_id, line in events:
            parsed = accesslog.parse(line)
            if parsed is None or parsed.t < until:  # unparsed lines go through, to be reported
                kept.append((event_id, line))
        skipped, events = len(events) - len(kept), kept
    else:
        skipped = 0
    settings = meter_settings(ctx, resolve_meter_table(args))
    origin = f"ingest\0{args.source}\0{os.path.basename(args.file)}"
    totals: Counter[str] = Counter()
    for start in range(0, len(events), INGEST_BATCH):
        try:
            done = meter(origin, args.source, events[start:start + INGEST_BATCH], settings, lambda: ctx.client)
        except ChunkFailed as exc:
            raise StoreFailed(f"stopped at line {start + 1:,} ({exc}); run the same command again: what was "
                              "applied is skipped") from None
        totals.update({k: v for k, v in done.items() if isinstance(v, int)})
    print(f"ingested {totals['Metered']:,} requests on {args.source} ({totals['applied']:,} chunks applied, "
          f"{totals['skipped']:,} already applied before); {totals['Unparsed']:,} lines unparsed, "
          f"{totals['Refused']:,} refused by the route rules" + (f", {skipped:,} at or after --until" if skipped else ""),
          file=out)
    return 0


def iso_time(text: str) -> float:
    """--until: an ISO-8601 time (2026-11-30T12:00:00Z) as epoch seconds."""
    import datetime

    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--until must be an ISO-8601 time like 2026-11-30T12:00:00Z, got {text!r}") from None
    if parsed.tzinfo is None:
        raise CliError(f"--until needs a time zone (Z or +01:00), got {text!r}")
    return parsed.timestamp()


def meter_replay_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """Drain the dead-letter queue through the metering function's own path; a delivery is deleted from
    the queue only once it is applied (or can never be)."""
    if args.endpoint and not args.queue_url:
        raise CliError("the local API has no dead-letter queue: pass --queue-url to replay a deployed stack's")
    queue = args.queue_url or stack_output(args, "meter_dead_letter_queue_url")
    if not queue:
        raise CliError("no dead-letter queue: pass --queue-url URL (the stack's meter_dead_letter_queue_url output)")
    import botocore.session

    sqs = botocore.session.get_session().create_client("sqs")
    settings = meter_settings(ctx, resolve_meter_table(args), (PROJECT, stack_name(args)))
    replayed = dropped = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=120).get("Messages", [])
        if not messages:
            break
        for message in messages:
            try:
                event = json.loads(message["Body"])["requestPayload"]
            except (ValueError, KeyError, TypeError):
                event = None
            try:
                done = handle(event, settings, lambda: ctx.client) if event is not None else {"status": "bad_delivery"}
            except ChunkFailed as exc:
                raise StoreFailed(f"replayed {replayed:,}, then a delivery failed again ({exc}); "
                                  "it stays in the queue: run meter-replay again") from None
            replayed += done["status"] == "metered"
            dropped += done["status"] != "metered"
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    print(f"replayed {replayed:,} deliveries" + (f"; dropped {dropped:,} that held nothing to meter" if dropped else ""),
          file=out)
    return 0
