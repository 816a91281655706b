"""Applying a metered batch exactly once: deterministic chunks of route and usage updates, each in ONE
``TransactWriteItems`` with a put of that chunk's marker conditioned on its absence.

CloudWatch Logs invokes the metering function asynchronously and Lambda retries a failed invocation, so
a batch can arrive twice, or fail half-way and arrive again; botocore re-sends a request whose answer was
lost. A chunk's transaction either applies everything, its marker included, or nothing (DynamoDB
Developer Guide, "Amazon DynamoDB Transactions"); so a chunk whose marker exists was applied, and a
delivery that finds it cancelled by that marker's condition skips exactly that chunk. Markers carry a TTL
(MARKER_DAYS) longer than the retry window (6 hours) and the dead-letter queue's retention (14 days).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, NamedTuple

from ..rules import buckets, meter_schema, schema, update
from ..rules.aggregate import Batch
from ..rules.buckets import DAY, Days

MAX_CHUNK = 99  # route and usage updates per transaction: TransactWriteItems takes 100 items, one is the marker
BATCH_GET = 100  # keys per BatchGetItem
MARKER_DAYS = 21
TRIES = 4  # attempts of a chunk cancelled by a conflicting write (another batch on the same route)


class Chunk(NamedTuple):
    number: int  # its place in the batch, from 0
    items: list[dict[str, Any]]  # TransactItems: {"Update": ...}, the marker's {"Put": ...} last
    requests: int = 0  # the metered requests its route updates add (what the Metered metric reports)


class ChunkFailed(Exception):
    """A chunk was not applied (and not already applied): the batch must be delivered again."""


def batch_key(source: str, event_ids: Iterable[str]) -> str:
    """A batch's identity: its source and its events' ids (CloudWatch Logs re-delivers the same ones)."""
    digest = hashlib.sha256(source.encode())
    for event_id in event_ids:
        digest.update(b"\0" + event_id.encode())
    return digest.hexdigest()[:40]


def stale_buckets(client: Any, table: str, routes: list[str], now: float, days: Days) -> dict[str, list[str]]:
    """The buckets each route's item holds that have left the retained range (an idle gap's leftovers), so
    the batch's own update removes them: one eventually consistent BatchGetItem per 100 routes (half a
    read unit per item). Best effort: a key DynamoDB leaves unprocessed keeps its leftovers until a later
    write, which is harmless (old buckets are never read)."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(routes), BATCH_GET):
        keys = [schema.key(route) for route in routes[start:start + BATCH_GET]]
        answer = client.batch_get_item(RequestItems={table: {"Keys": keys}})
        for item in answer.get("Responses", {}).get(table, []):
            old = buckets.leftovers(item.keys(), now, days)
            if old:
                found[item[schema.KEY]["S"]] = old[:update.MAX_CLEANUP]
    return found


def chunks(batch: Batch, key: str, counts_table: str, meter_table: str, now: float, days: Days,
           expiry_days: int = 0, stale: dict[str, list[str]] | None = None) -> list[Chunk]:
    """The batch's updates in a deterministic order, cut into transactions of at most MAX_CHUNK updates
    plus the chunk's marker. Deterministic: a re-delivery cuts the same chunks (what each REMOVEs, and
    its times, may differ; what it ADDs never does)."""
    stale = stale or {}
    updates = [update.increments_request(counts_table, route, batch.routes[route], now, days, expiry_days,
                                         stale.get(route))
               for route in sorted(batch.routes)]
    requests = [batch.routes[route].count for route in sorted(batch.routes)]
    updates += [update.usage_request(meter_table, month, consumer, route, n)
                for (month, consumer, route), n in sorted(batch.usage.items())]
    found = []
    for index, start in enumerate(range(0, len(updates), MAX_CHUNK)):
        marker = {"TableName": meter_table, "Item": {**meter_schema.marker_key(key, index),
                                                     schema.EXPIRES: {"N": str(int(now) + MARKER_DAYS * DAY)}},
                  "ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": meter_schema.METER_PK}}
        found.append(Chunk(index, [{"Update": u} for u in updates[start:start + MAX_CHUNK]] + [{"Put": marker}],
                           sum(requests[start:start + MAX_CHUNK])))
    return found


def _reasons(exc: Exception) -> list[str]:
    response = getattr(exc, "response", {}) or {}
    return [reason.get("Code", "None") for reason in response.get("CancellationReasons", [])]


def _code(exc: Exception) -> str:
    return str((getattr(exc, "response", {}) or {}).get("Error", {}).get("Code", ""))


def apply(client: Any, chunk: Chunk, sleep: Callable[[float], None]) -> bool:
    """Apply one chunk: True when this call applied it, False when its marker says it already was.
    ChunkFailed when it could not be applied (the caller lets the delivery fail, to be retried)."""
    for attempt in range(TRIES):
        try:
            client.transact_write_items(TransactItems=chunk.items)
            return True
        except Exception as exc:  # botocore's ClientError, or the lean client's equivalent
            if _code(exc) != "TransactionCanceledException":
                raise ChunkFailed(f"chunk {chunk.number}: {_code(exc) or type(exc).__name__}") from exc
            reasons = _reasons(exc)
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                return False  # the marker exists: applied before (a re-delivery, or a re-sent request)
            if attempt + 1 < TRIES and all(r in ("None", "TransactionConflict", "ThrottlingError") for r in reasons):
                sleep(0.05 * 2 ** attempt)  # another transaction held one of these items: try again
                continue
            raise ChunkFailed(f"chunk {chunk.number} cancelled: {', '.join(reasons) or 'no reason given'}") from exc
    raise ChunkFailed(f"chunk {chunk.number}: still conflicting after {TRIES} tries")


class Applied(NamedTuple):
    applied: int  # chunks this delivery applied
    skipped: int  # chunks an earlier delivery had applied
    requests: int = 0  # metered requests in the chunks this delivery applied


def apply_all(client: Any, found: list[Chunk], sleep: Callable[[float], None]) -> Applied:
    """Every chunk in order; raises ChunkFailed at the first that cannot be applied (the ones before it
    stay applied, and their markers make the re-delivery skip them)."""
    applied = skipped = requests = 0
    for chunk in found:
        if apply(client, chunk, sleep):
            applied, requests = applied + 1, requests + chunk.requests
        else:
            skipped += 1
    return Applied(applied, skipped, requests)
