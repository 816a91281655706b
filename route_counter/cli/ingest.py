"""`python -m counts ingest FILE --source NAME`: meter access-log lines from a file through the metering
function's own path (handler/meter.py), each request once across files and runs.

A request's identity is the line's own ``requestId`` (API Gateway's, one per request), in whatever file
it comes: raw JSON lines and `aws logs filter-log-events` JSON alike; else CloudWatch's event id; else,
for a line without either, its content. The metering table keeps a marker per metered identity
(``seen#``), so overlapping exports, a renamed copy, a grown file and a corrected ``--until`` add only
what is new. Only what was metered is marked: a line unparsed or refused is read again next time (a rule
changed since may take it). A window of lines is noted before it is metered (``ingest#NAME``) and its
markers written after: a run stopped in between re-applies exactly that window first, whose chunks'
markers then skip what was applied (``--abandon`` gives it up instead). One ingest per source at a time:
a lock that lapses after LOCK_SECONDS without a window finishing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import secrets
import sys
from collections import Counter
from typing import Any, NamedTuple, TextIO

from route_counter.cli.context import CliError, Context, StoreFailed, count_of, resolve_meter_table
from route_counter.cli.metering import iso_time, meter_settings
from route_counter.handler import clock
from route_counter.handler.meter import meter
from route_counter.handler.rules import accesslog, aggregate, meter_schema
from route_counter.handler.rules.sources import parse_sources
from route_counter.handler.store.meter import ChunkFailed
from route_counter.handler.store.outcomes import CONDITION_FAILED

INGEST_BATCH = 5_000  # lines metered together; the window's note (its lines' keys) stays under 400 KB
BATCH_GET, BATCH_WRITE = 100, 25  # keys per BatchGetItem, items per BatchWriteItem (DynamoDB's limits)
SHOWN = 20  # lines named in the report before "... and N more"
LOCK_SECONDS = 900  # an ingest's lock lapses this long after its last window began (a run killed mid-way)


class Event(NamedTuple):
    label: str  # how the report names it: "line 5", or "event 3698..." (never its content)
    identity: str  # what makes it one request: "cw:EVENT_ID", "rq:REQUEST_ID" or "tx:" + a hash of the line
    line: str


def read_events(path: str) -> list[Event]:
    """The requests of a file of JSON lines or of `aws logs filter-log-events` JSON, in file order."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("events"), list):  # filter-log-events
        found = []
        for n, event in enumerate(data["events"], 1):
            if not isinstance(event, dict) or not isinstance(event.get("message"), str):
                raise CliError(f"{path}: event {n} has no message")
            event_id = event.get("eventId")
            identity = _own_identity(event["message"])
            if identity.startswith("tx:") and isinstance(event_id, str) and event_id:
                identity = f"cw:{event_id}"  # no requestId: CloudWatch's id still tells two equal lines apart
            found.append(Event(f"event {event_id}" if event_id else f"event {n}", identity, event["message"]))
        return found
    lines = [line for line in text.splitlines() if line.strip()]
    return [Event(f"line {n}", _own_identity(line), line) for n, line in enumerate(lines, 1)]


def _own_identity(line: str) -> str:
    """A line's ``requestId`` where it has one, else its content."""
    try:
        fields = json.loads(line)
    except (ValueError, RecursionError):
        fields = None
    request_id = fields.get("requestId") if isinstance(fields, dict) else None
    if isinstance(request_id, str) and request_id not in ("", accesslog.NONE):
        return f"rq:{request_id}"
    return "tx:" + hashlib.sha256(line.encode("utf-8", "surrogatepass")).hexdigest()


def marker_key(source: str, event: Event) -> str:
    """The 128-bit key of a request's seen-marker, per metered API."""
    return hashlib.sha256(f"{source}\0{event.identity}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _condition_failed(exc: Exception) -> bool:
    """Whether a write was refused by its condition (botocore's ClientError code)."""
    return bool((getattr(exc, "response", {}) or {}).get("Error", {}).get("Code") == CONDITION_FAILED)


class Seen:
    """The metering table's markers of what was ingested for one source, and the window under way."""

    def __init__(self, client: Any, table: str, source: str) -> None:
        self.client, self.table, self.source = client, table, source

    def known(self, keys: list[str]) -> set[str]:
        """Which of these keys were ingested before (consistent reads: one read unit per 100 keys' items)."""
        found: set[str] = set()
        for start in range(0, len(keys), BATCH_GET):
            wanted = [meter_schema.seen_key(self.source, key) for key in keys[start:start + BATCH_GET]]
            while wanted:
                answer = self.client.batch_get_item(RequestItems={self.table: {"Keys": wanted, "ConsistentRead": True}})
                found.update(item[meter_schema.METER_PK]["S"].rpartition("#")[2] for item in answer["Responses"].get(self.table, []))
                wanted = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if wanted:
                    clock.sleep(0.1)  # throttled: DynamoDB hands back what it did not read
        return found

    def pending(self) -> list[str]:
        """The keys of a window noted but never finished (a run stopped part-way), else []."""
        item = self.client.get_item(TableName=self.table, Key=meter_schema.intent_key(self.source), ConsistentRead=True)
        keys = item.get("Item", {}).get("keys", {}).get("S", "")
        return keys.split(",") if keys else []

    def lock(self, owner: str) -> None:
        """Take (or, for ``owner``, extend) the source's lock; CliError while another ingest holds it."""
        now = clock.now()
        try:
            self.client.put_item(
                TableName=self.table, Item={**meter_schema.lock_key(self.source), "owner": {"S": owner},
                                            "until": {"N": str(int(now) + LOCK_SECONDS)}},
                ConditionExpression="attribute_not_exists(#pk) OR #owner = :me OR #until < :now",
                ExpressionAttributeNames={"#pk": meter_schema.METER_PK, "#owner": "owner", "#until": "until"},
                ExpressionAttributeValues={":me": {"S": owner}, ":now": {"N": str(int(now))}})
        except Exception as exc:  # botocore's ClientError; the code says which
            if not _condition_failed(exc):
                raise
            raise CliError(f"another ingest for {self.source} is running (its lock lapses {LOCK_SECONDS // 60} "
                           "minutes after its last window began): wait for it, or run this again then") from None

    def unlock(self, owner: str) -> None:
        try:
            self.client.delete_item(TableName=self.table, Key=meter_schema.lock_key(self.source),
                                    ConditionExpression="#owner = :me", ExpressionAttributeNames={"#owner": "owner"},
                                    ExpressionAttributeValues={":me": {"S": owner}})
        except Exception as exc:  # someone took it over after it lapsed: theirs now
            if not _condition_failed(exc):
                raise

    def begin(self, keys: list[str]) -> None:
        self.client.put_item(TableName=self.table, Item={**meter_schema.intent_key(self.source), "keys": {"S": ",".join(keys)}})

    def finish(self, keys: list[str]) -> None:
        """Mark these requests ingested (the window's metered ones), then drop the window's note."""
        for start in range(0, len(keys), BATCH_WRITE):
            puts = [{"PutRequest": {"Item": meter_schema.seen_key(self.source, key)}} for key in keys[start:start + BATCH_WRITE]]
            while puts:
                answer = self.client.batch_write_item(RequestItems={self.table: puts})
                puts = answer.get("UnprocessedItems", {}).get(self.table, [])
                if puts:
                    clock.sleep(0.1)
        self.client.delete_item(TableName=self.table, Key=meter_schema.intent_key(self.source))


class Report:
    """The lines ingest could not meter, by label and reason, never their content (it may hold what the
    API's callers sent)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, window: dict[str, Event], unparsed: list[str], refused: list[tuple[str, str]]) -> None:
        self.found += [(window[key].label, "unparsed: " + accesslog.why(window[key].line)) for key in unparsed]
        self.found += [(window[key].label, "refused: " + reason) for key, reason in refused]

    def show(self, err: TextIO) -> None:
        for label, reason in self.found[:SHOWN]:
            print(f"{label}: {reason}", file=err)
        if len(self.found) > SHOWN:
            print(f"... and {len(self.found) - SHOWN:,} more", file=err)


def final_months(window: dict[str, Event], keys: list[str], now: float) -> Counter[str]:
    """Requests among ``keys`` (metered ones) in months whose usage was already final as of ``now``."""
    found: Counter[str] = Counter()
    for key in keys:
        line = accesslog.parse(window[key].line)
        if line is not None:
            month = aggregate.month_of(line.t)
            if now >= meter_schema.usage_final_at(month):
                found[month] += 1
    return found


def abandon(seen: Seen, source: str, out: TextIO) -> int:
    """``ingest --abandon --source NAME``: give up the window a stopped run left. Its requests are marked
    ingested, so none can count twice later; those of its chunks that were never applied stay uncounted."""
    keys = seen.pending()
    if not keys:
        print(f"no ingest for {source} was left part-way: nothing to give up", file=out)
        return 0
    seen.finish(keys)
    print(f"gave up the window of {count_of(len(keys), 'line')} an ingest for {source} left part-way: they are marked "
          "ingested, so none counts twice; any of them its stopped run had not applied stay uncounted", file=out)
    return 0


def ingest_command(ctx: Context, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    try:
        parse_sources(f"{args.source}=/ingest")
    except ValueError:
        raise CliError(f"--source must be 1-32 of a-z, 0-9 and - (the metered API's name), got {args.source!r}") from None
    if (args.file is None) != bool(args.abandon):
        raise CliError("ingest takes a FILE to meter, or --abandon (no FILE) to give up a window a stopped run left")
    meter_table = resolve_meter_table(args)
    # The function's own per-line warnings are for its log group; here the report names each line with why.
    # Quiet for this command only: the level is put back however it ends.
    function_log = logging.getLogger("route_counter.meter")
    level = function_log.level
    function_log.setLevel(logging.ERROR)
    seen = Seen(ctx.client, meter_table, args.source)
    owner = secrets.token_hex(8)
    try:
        seen.lock(owner)
        try:
            return abandon(seen, args.source, out) if args.abandon else _ingest(ctx, args, seen, meter_table, owner, out)
        finally:
            seen.unlock(owner)
    finally:
        function_log.setLevel(level)


def _ingest(ctx: Context, args: argparse.Namespace, seen: Seen, meter_table: str, owner: str, out: TextIO) -> int:
    events = read_events(args.file)
    later = 0
    if args.until or args.since:  # lines outside [since, until) are the subscription's; unparsed ones go
        # through, to be reported
        since = iso_time(args.since, "--since") if args.since else float("-inf")
        until = iso_time(args.until) if args.until else float("inf")
        kept = [e for e in events if (parsed := accesslog.parse(e.line)) is None or since <= parsed.t < until]
        later, events = len(events) - len(kept), kept
    settings = meter_settings(ctx, meter_table)
    by_key: dict[str, Event] = {}
    for event in events:  # the same request twice in one file is one request
        by_key.setdefault(marker_key(args.source, event), event)
    totals: Counter[str] = Counter()
    finals: Counter[str] = Counter()
    report = Report()

    def apply(keys: list[str]) -> None:
        window = {key: by_key[key] for key in keys}
        seen.lock(owner)  # extended per window: a long backfill keeps it, a killed one lets it lapse
        seen.begin(keys)
        try:
            done = meter(f"ingest\0{args.source}", args.source, [(k, e.line) for k, e in window.items()], settings,
                         lambda: ctx.client)
        except ChunkFailed as exc:
            raise StoreFailed(f"stopped at {window[keys[0]].label} ({exc}); run the same command again: what was "
                              "applied is skipped") from None
        not_metered = set(done["unparsedIds"]) | {key for key, _ in done["refusedLines"]}
        metered = [key for key in keys if key not in not_metered]
        seen.finish(metered)
        finals.update(final_months(window, metered, clock.now()) if done["applied"] else {})
        totals.update({k: v for k, v in done.items() if isinstance(v, int)})
        report.add(window, done["unparsedIds"], done["refusedLines"])

    interrupted = seen.pending()
    if interrupted:
        missing = [key for key in interrupted if key not in by_key]
        if missing:
            raise StoreFailed(f"an earlier ingest for {args.source} stopped part-way, and {len(missing):,} of the "
                              f"{len(interrupted):,} lines it was metering are not in {args.file}: run it again with "
                              "the file it was reading first, or give that window up with `ingest --source "
                              f"{args.source} --abandon` (docs/metering.md)")
        apply(interrupted)
    before = seen.known(list(by_key))
    fresh = [key for key in by_key if key not in before and key not in interrupted]
    for start in range(0, len(fresh), INGEST_BATCH):
        apply(fresh[start:start + INGEST_BATCH])
        if sys.stderr.isatty():  # progress on a terminal only: a log or a pipe gets the summary alone
            print(f"\r{min(start + INGEST_BATCH, len(fresh)):,} of {len(fresh):,} new lines metered; "
                  f"{count_of(totals['applied'], 'chunk')} applied", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty() and fresh:
        print(file=sys.stderr)
    report.show(sys.stderr)
    duplicates = len(events) - len(by_key)
    by_content = sum(1 for e in by_key.values() if e.identity.startswith("tx:"))
    print(f"ingested {count_of(totals['Metered'], 'request')} on {args.source} "
          f"({count_of(totals['applied'], 'chunk')} applied); "
          f"{count_of(totals['Unparsed'], 'line')} unparsed, {totals['Refused']:,} refused"
          + (f", {later:,} outside --since/--until" if later and args.since else "")
          + (f", {later:,} at or after --until" if later and not args.since else "")
          + (f"; {len(before):,} ingested before, skipped" if before else "")
          + (f"; {duplicates:,} repeated in the file, counted once" if duplicates else ""), file=out)
    for month, n in sorted(finals.items()):
        print(f"note: {month} was already final; this ingest added {count_of(n, 'request')} to it (its usage and any "
              "invoice cut from it change by that much)", file=sys.stderr)
    if by_content:
        print(f"note: {count_of(by_content, 'line')} {'has' if by_content == 1 else 'have'} no requestId: they are told apart by their content, so two "
              "identical lines count once and an edited line counts again", file=sys.stderr)
    if totals["lines"] and totals["lines"] == totals["Unparsed"] + totals["Refused"] and not before:
        raise CliError(f"nothing in {args.file} could be metered: every line was unparsed or refused (see above)")
    return 0
