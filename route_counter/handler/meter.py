"""The metering Lambda: count an existing API's routes from its API Gateway access logs, exactly once.

It reads as a sentence: decode the CloudWatch Logs delivery (handler/web/logs.py), find which metered API
its log group is, fold its lines into increments per route and usage per API key (handler/rules/
aggregate.py), and apply them in chunks that each carry their own marker (handler/store/meter.py), so a
re-delivered or half-applied batch counts every request exactly once. A chunk that cannot be applied
fails the invocation: Lambda retries it, and after its last try sends it to the dead-letter queue, which
``python -m counts meter-replay`` drains through this same path.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from . import clock
from .rules.aggregate import aggregate
from .rules.settings import METER_VARIABLES, Settings
from .store import meter as store
from .web import logs, metrics

LOGGER = logging.getLogger("route_counter.meter")
_client: Any = None
_settings: Settings | None = None


def _loaded() -> Settings:
    """The function's settings, parsed at its first delivery (not at import: the admin CLI imports this
    module to replay and ingest through the same path, with settings of its own)."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env(os.environ, METER_VARIABLES)
    return _settings


def _dynamodb() -> Any:
    global _client
    if _client is None:
        from .store.dynamo import create_client

        _client = create_client(retries=True)
    return _client


def handle(event: Any, settings: Settings, client: Callable[[], Any]) -> dict[str, Any]:
    """Meter one delivery; returns what it did. Raises ChunkFailed when a chunk could not be applied
    (the delivery must come again); a delivery nothing can be counted from is logged and dropped."""
    try:
        delivery = logs.decode(event)
    except logs.BadDelivery as exc:
        LOGGER.error("not a log delivery", extra={"reason": str(exc)})
        return {"status": "bad_delivery"}
    if delivery.control:
        return {"status": "control_message"}
    source = settings.sources.get(delivery.log_group)
    if source is None:
        LOGGER.error("a log group this stack does not meter", extra={"logGroup": delivery.log_group})
        return {"status": "unknown_log_group"}
    return meter(f"{delivery.log_group}\0{delivery.log_stream}", source, delivery.events, settings, client)


def meter(origin: str, source: str, events: list[tuple[str, str]], settings: Settings,
          client: Callable[[], Any]) -> dict[str, Any]:
    """Meter (event id, line) pairs of the API named ``source``, exactly once per (origin, event ids):
    the subscription's deliveries, and the CLI's ingest and replay."""
    rules = settings.rules._replace(reserved=())  # the API's own paths: nothing of theirs is the listing's
    now = clock.now()
    batch = aggregate(events, source, rules, settings.days, now)
    where = origin.replace("\0", " ")
    for event_id in batch.unparsed:  # never the line itself: it may hold what the API's callers sent
        LOGGER.warning("not an access-log line", extra={"origin": where, "eventId": event_id})
    for event_id, reason in batch.refused:
        LOGGER.warning("a line the route rules or the time bounds refuse",
                       extra={"origin": where, "eventId": event_id, "reason": reason})
    key = store.batch_key(origin, (i for i, _ in events))
    routes = sorted(batch.routes)
    stale = store.stale_buckets(client(), settings.table_name, routes, now, settings.days) if routes else {}
    found = store.chunks(batch, key, settings.table_name, settings.meter_table, now, settings.days, settings.expiry_days,
                         stale)
    done = store.apply_all(client(), found, clock.sleep)
    # What this delivery applied, not what it held: a re-delivery whose chunks were all applied before adds
    # nothing to Metered (and its lines were reported Unparsed or Refused the first time).
    again = bool(found) and done.applied == 0
    values = {metrics.METERED: done.requests, metrics.UNPARSED: 0 if again else len(batch.unparsed),
              metrics.REFUSED: 0 if again else len(batch.refused), metrics.SKIPPED: done.skipped}
    LOGGER.info("metrics", extra=metrics.meter_document(values, now, os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")))
    return {"status": "metered", "source": source, "routes": len(batch.routes), "chunks": len(found),
            "applied": done.applied, "skipped": done.skipped, **{k: v for k, v in values.items() if k != metrics.SKIPPED},
            "lines": batch.lines, "unparsedIds": batch.unparsed, "refusedLines": batch.refused}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: a CloudWatch Logs subscription delivery ({"awslogs": {"data": ...}}), invoked asynchronously.
    A ChunkFailed (or any other error) propagates on purpose: Lambda's retry and dead-letter queue are
    how a batch that could not be applied comes back, and its applied chunks are skipped then."""
    try:
        return handle(event, _loaded(), _dynamodb)
    except store.ChunkFailed as exc:  # one clear line; the raise is what makes Lambda retry the delivery
        LOGGER.error("delivery not fully applied: Lambda retries it, applied chunks are skipped then",
                     extra={"reason": str(exc)})
        raise
