"""The metering commands of `python -m counts`: usage per API key and replaying the dead-letter queue
through the metering function's own exactly-once path (handler/meter.py); ingesting files is
counts/ingest.py."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from typing import Any, TextIO

from route_counter.handler import clock
from route_counter.handler.meter import handle
from route_counter.handler.rules.settings import METER_VARIABLES, Settings
from route_counter.handler.store import queries
from route_counter.handler.store.meter import ChunkFailed
from route_counter.infra import settings as stack
from route_counter.cli.context import (PROJECT, CliError, Context, count_of, is_loopback, resolve_meter_table, spreadsheet_safe, stack_name,
                                      stack_output)



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
        writer.writerows(spreadsheet_safe((month, c["consumer"], route, n, final))
                         for c in found["consumers"] for route, n in c["routes"].items())
    else:
        print(f"{'requests':>12}  API key id", file=out)
        for c in found["consumers"]:
            print(f"{c['count']:>12,}  {c['consumer']}", file=out)
    if not found["consumers"]:  # an empty answer is no error: say so rather than print nothing
        print(f"no requests with an API key were metered in {month}", file=sys.stderr if args.format != "table" else out)
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


def iso_time(text: str, option: str = "--until") -> float:
    """--until or --since: an ISO-8601 time (2026-11-30T12:00:00Z) as epoch seconds."""
    import datetime

    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option} must be an ISO-8601 time like 2026-11-30T12:00:00Z, got {text!r}") from None
    if parsed.tzinfo is None:
        raise CliError(f"{option} needs a time zone (Z or +01:00), got {text!r}")
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
    print(f"replayed {count_of(replayed, 'delivery', 'deliveries')}" + (f"; left {left:,} in the queue (see above)" if left else ""), file=out)
    return 1 if left else 0


_QUEUE_PATH = re.compile(r"/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")  # /ACCOUNT/NAME: SQS's queue URLs


def sqs_client(queue_url: str) -> Any:
    """An SQS client for the queue: AWS's endpoint for an AWS queue URL (its region from the URL), else the
    URL's own host, so a local SQS-compatible server (moto's) works as AWS does."""
    import urllib.parse

    import botocore.session

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        parts = urllib.parse.urlsplit(queue_url)
        host, _ = parts.hostname or "", parts.port  # .port raises for a port that cannot be
    except ValueError:
        raise CliError(f"--queue-url is not a URL: {queue_url!r}") from None
    if parts.scheme not in ("http", "https") or not host or not _QUEUE_PATH.fullmatch(parts.path) \
            or parts.query or parts.fragment:
        raise CliError(f"--queue-url must be an SQS queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME "
                       f"(the stack's meter_dead_letter_queue_url output), got {queue_url!r}")
    aws_host = host.startswith("sqs.") and host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    if parts.scheme == "http" and not is_loopback(host):
        raise CliError(f"--queue-url {queue_url} is plain http:// off this machine: your AWS credentials would "
                       "cross the network in clear; use https://")
    session = botocore.session.get_session()
    if aws_host:
        sqs = session.create_client("sqs", region_name=host.split(".")[1])
    else:
        sqs = session.create_client("sqs", endpoint_url=f"{parts.scheme}://{parts.netloc}",
                                    region_name=session.get_config_variable("region") or "us-east-1")
    # Before taking anything from it: it must answer as a queue does (its ARN), or it is not one.
    try:
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]).get("Attributes", {}).get("QueueArn")
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"--queue-url {queue_url} did not answer as an SQS queue ({exc}); nothing was taken") from None
    if not (isinstance(arn, str) and arn.startswith("arn:") and ":sqs:" in arn):
        raise CliError(f"--queue-url {queue_url} did not answer as an SQS queue (no queue ARN); nothing was taken")
    return sqs


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
