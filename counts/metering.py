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
from typing import Any, Iterator, TextIO

from handler import clock
from handler.meter import handle, meter
from handler.rules import accesslog, schema
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
        found = queries.usage_month(ctx.client, resolve_meter_table(args), queries.check_month(month), clock.now())
    except queries.BadQuery as exc:
        raise CliError(str(exc)) from None
    final = "true" if found["final"] else "false"
    if args.format == "json":
        print(json.dumps(found, indent=2, ensure_ascii=False), file=out)
    elif args.format == "csv":  # one row per consumer and route: what an invoice needs, and whether it may still grow
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("month", "consumer", "route", "requests", "final"))
        writer.writerows((month, c["consumer"], route, n, final) for c in found["consumers"] for route, n in c["routes"].items())
    else:
        for c in found["consumers"]:
            print(f"{c['count']:>12,}  {c['consumer']}", file=out)
    if not found["final"]:  # never cut an invoice from a figure late logs may still raise
        print(f"{month} is not final until {found['finalAt']} (late log deliveries may still add to it)", file=sys.stderr)
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
    meter_table = resolve_meter_table(args)
    settings = meter_settings(ctx, meter_table)
    origin = f"ingest\0{args.source}\0{os.path.basename(args.file)}"
    progress = Progress(ctx.client, meter_table, origin, [event_id for event_id, _ in events])
    totals: Counter[str] = Counter()
    report = Report(dict(events))
    for start, end in progress.windows(INGEST_BATCH):
        try:
            done = meter(origin, args.source, events[start:end], settings, lambda: ctx.client)
        except ChunkFailed as exc:
            raise StoreFailed(f"stopped at line {start + 1:,} ({exc}); run the same command again: what was "
                              "applied is skipped") from None
        progress.done(end)
        totals.update({k: v for k, v in done.items() if isinstance(v, int)})
        report.add(done["unparsedIds"], done["refusedLines"])
        if sys.stderr.isatty():  # progress on a terminal only: a log or a pipe gets the summary alone
            print(f"\r{end:,} of {len(events):,} lines read; {totals['applied']:,} chunks applied, "
                  f"{totals['skipped']:,} skipped (applied before)", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    report.show(sys.stderr)
    print(f"ingested {totals['Metered']:,} requests on {args.source} ({totals['applied']:,} chunks applied, "
          f"{totals['skipped']:,} already applied before); {totals['Unparsed']:,} lines unparsed, "
          f"{totals['Refused']:,} refused by the route rules" + (f", {skipped:,} at or after --until" if skipped else "")
          + (f"; the first {progress.resumed:,} lines were ingested before" if progress.resumed else ""),
          file=out)
    if totals["lines"] and totals["lines"] == totals["Unparsed"] + totals["Refused"]:
        raise CliError(f"nothing in {args.file} could be metered: every line was unparsed or refused (see above)")
    return 0


class Report:
    """The lines ingest could not meter, named by line number (JSON lines) or event id, with the reason,
    never their content: it may hold what the API's callers sent."""

    SHOWN = 20

    def __init__(self, messages: dict[str, str]) -> None:
        self.messages = messages
        self.found: list[tuple[str, str]] = []

    def add(self, unparsed: list[str], refused: list[tuple[str, str]]) -> None:
        self.found += [(event_id, "unparsed: " + accesslog.why(self.messages[event_id])) for event_id in unparsed]
        self.found += [(event_id, "refused: " + reason) for event_id, reason in refused]

    def show(self, err: TextIO) -> None:
        for event_id, reason in self.found[:self.SHOWN]:
            number, sep, _ = event_id.partition(":")
            where = f"line {number}" if sep and number.isascii() and number.isdigit() else f"event {event_id}"
            print(f"{where}: {reason}", file=err)
        if len(self.found) > self.SHOWN:
            print(f"... and {len(self.found) - self.SHOWN:,} more", file=err)


class Progress:
    """How far ingest got in one file, kept in the metering table, so a file that has grown since counts
    only its new lines: a batch's identity is its lines' ids, and a window that takes in new lines would
    otherwise be a new batch. Each window is noted before it is applied and after: a run stopped in
    between re-applies exactly that window first (its chunks' markers then skip what was applied)."""

    def __init__(self, client: Any, table: str, origin: str, ids: list[str]) -> None:
        self.client, self.table, self.key, self.ids = client, table, schema.ingest_key(origin), ids
        self.digests = [hashlib.sha256().hexdigest()]
        rolling = hashlib.sha256()
        for event_id in ids:
            rolling.update(event_id.encode("utf-8", "surrogatepass") + b"\0")
            self.digests.append(rolling.hexdigest())
        item = client.get_item(TableName=table, Key=self.key, ConsistentRead=True).get("Item", {})
        lines, pending = int(item.get("lines", {}).get("N", "0")), int(item.get("pending", {}).get("N", "0"))
        same = lines <= len(ids) and item.get("digest", {}).get("S") == self.digests[lines]
        self.resumed = lines if same else 0
        self.pending = pending if same and lines < pending <= len(ids) else 0

    def windows(self, size: int) -> Iterator[tuple[int, int]]:
        """(start, end) of the windows still to apply: an interrupted one first, as it was cut."""
        start = self.resumed
        if self.pending:
            yield start, self.pending
            start = self.pending
        while start < len(self.ids):
            end = min(start + size, len(self.ids))
            self._note(start, end)
            yield start, end
            start = end

    def _note(self, lines: int, pending: int) -> None:
        item = {**self.key, "lines": {"N": str(lines)}, "digest": {"S": self.digests[lines]}}
        if pending:
            item["pending"] = {"N": str(pending)}
        self.client.put_item(TableName=self.table, Item=item)

    def done(self, end: int) -> None:
        self._note(end, 0)


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
    """Drain the dead-letter queue through the metering function's own path. A message is deleted only
    once its delivery is applied (or is a control message); one that cannot be applied is named on
    stderr and left in the queue, and the rest are replayed. Exit 1 when any is left."""
    if args.endpoint and not args.queue_url:
        raise CliError("the local API has no dead-letter queue: pass --queue-url (an SQS-compatible server's, such "
                       "as `moto_server`'s) to replay locally")
    queue = args.queue_url or stack_output(args, "meter_dead_letter_queue_url")
    if not queue:
        raise CliError("no dead-letter queue: pass --queue-url URL (the stack's meter_dead_letter_queue_url output)")
    settings = meter_settings(ctx, resolve_meter_table(args), None if args.endpoint else (PROJECT, stack_name(args)))
    if not settings.sources:  # the stack's config could not be read: every delivery would look foreign
        where = "the local API's (`make dev ARGS=\"--meter NAME=LOG_GROUP\"`)" if args.endpoint else \
            "the stack's (`pulumi config --json` failed or `pulumi` is not on PATH)"
        raise CliError(f"cannot read which log groups are metered from {where}; nothing was taken from the queue")
    sqs = sqs_client(queue)
    replayed, left, seen = 0, 0, set()
    while True:
        messages = [m for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                                   VisibilityTimeout=120).get("Messages", [])
                    if m["MessageId"] not in seen]
        if not messages:  # empty, or only what this run left behind became visible again
            break
        for message in messages:
            seen.add(message["MessageId"])
            status = _replay(message["Body"], settings, ctx)
            if status in ("metered", "control_message"):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                replayed += status == "metered"
            else:
                left += 1
                print(f"message {message['MessageId']}: {status}; left in the queue", file=sys.stderr)
    print(f"replayed {replayed:,} deliveries" + (f"; left {left:,} in the queue (see above)" if left else ""), file=out)
    return 1 if left else 0


def sqs_client(queue_url: str) -> Any:
    """An SQS client for the queue: AWS's endpoint for an AWS queue URL (its region from the URL), else the
    URL's own host, so a local SQS-compatible server (moto's) works as AWS does."""
    import urllib.parse

    import botocore.session

    parts = urllib.parse.urlsplit(queue_url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise CliError(f"--queue-url must be a queue's http(s) URL, got {queue_url!r}")
    aws_host = host.startswith("sqs.") and host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    session = botocore.session.get_session()
    if aws_host:
        return session.create_client("sqs", region_name=host.split(".")[1])
    return session.create_client("sqs", endpoint_url=f"{parts.scheme}://{parts.netloc}",
                                 region_name=session.get_config_variable("region") or "us-east-1")


def _replay(body: str, settings: Settings, ctx: Context) -> str:
    """Meter one dead-letter message; what became of it (never raises for a message's content)."""
    try:
        event = json.loads(body)["requestPayload"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return "not a Lambda failure record with a requestPayload"
    try:
        return str(handle(event, settings, lambda: ctx.client)["status"])
    except ChunkFailed as exc:
        return f"not applied ({exc})"
