"""The metering table's schema (meter): a marker per applied batch chunk (exactly once), usage per API key,
month and route, and `counts ingest`'s seen-markers, window note and lock. Pure. Apart from the counts
table's schema (rules/schema.py) so that a counted hit's cold start never compiles it."""

from __future__ import annotations

from typing import Any

# One small item each, so no item grows with traffic. A month's usage is spread over
# USAGE_SHARDS partition keys (one partition takes at most 1,000 writes a second) and read back with one
# Query per shard.
METER_PK, METER_SK = "pk", "sk"
MARKER_PREFIX, USAGE_PREFIX = "batch#", "usage#"
SEEN_PREFIX, INGEST_PREFIX = "seen#", "ingest#"  # `counts ingest`: a request ingested; the window under way
USAGE_COUNT, USAGE_CONSUMER, USAGE_ROUTE = "n", "consumer", "route"
USAGE_SHARDS = 10
SORT_KEY_LIMIT = 1024  # bytes: DynamoDB's maximum sort-key size
HASHED = "sha256:"  # a usage sort key's route part when KEY#ROUTE would pass SORT_KEY_LIMIT (routes start "/")


def usage_key(month: str, consumer: str, route: str) -> dict[str, dict[str, str]]:
    """The usage item of one API key on one route in one month: ``usage#2026-11#3`` / ``KEY#/route``, the
    route hashed in the sort key when it would not fit (the item keeps it whole in ``route``)."""
    sort = f"{consumer}#{route}"
    import hashlib  # the meter's alone: kept out of the counter's cold start

    digest = hashlib.sha256(sort.encode("utf-8")).hexdigest()
    if len(sort.encode("utf-8")) > SORT_KEY_LIMIT:
        sort = f"{consumer}#{HASHED}{digest}"
    shard = int(digest[:8], 16) % USAGE_SHARDS
    return {METER_PK: {"S": f"{USAGE_PREFIX}{month}#{shard}"}, METER_SK: {"S": sort}}


# A month's usage is final once no delivery can add to it: the month's end, plus CloudWatch Logs' 24 hours
# of delivery retries and Lambda's 6 hours of asynchronous retries (a replay from the dead-letter queue can
# still add later: its alarm says when one waits).
USAGE_FINAL_AFTER = 30 * 3600


def usage_final_at(month: str) -> float:
    """When a month's ("2026-11") usage becomes final, in epoch seconds."""
    year, number = int(month[:4]), int(month[5:7])
    following = (year + number // 12, number % 12 + 1)
    import calendar

    return calendar.timegm((*following, 1, 0, 0, 0)) + USAGE_FINAL_AFTER


def usage_partitions(month: str) -> list[str]:
    """Every partition key a month's usage may sit under: its shards, and the single key of versions
    before the shards (usage#2026-11), read so that nothing metered before an upgrade goes missing."""
    return [f"{USAGE_PREFIX}{month}#{shard}" for shard in range(USAGE_SHARDS)] + [USAGE_PREFIX + month]


def marker_key(batch: str, chunk: int) -> dict[str, dict[str, str]]:
    """The marker that says chunk ``chunk`` of batch ``batch`` has been applied."""
    return {METER_PK: {"S": MARKER_PREFIX + batch}, METER_SK: {"S": str(chunk)}}


def seen_key(source: str, key: str) -> dict[str, dict[str, str]]:
    """The marker that one request (``key``: a hash of its identity) of a metered API was ingested."""
    return {METER_PK: {"S": f"{SEEN_PREFIX}{source}#{key}"}, METER_SK: {"S": "-"}}


def intent_key(source: str) -> dict[str, dict[str, str]]:
    """The note of the window an ingest for ``source`` is metering (gone once it is done)."""
    return {METER_PK: {"S": INGEST_PREFIX + source}, METER_SK: {"S": "intent"}}


def lock_key(source: str) -> dict[str, dict[str, str]]:
    """The lock one ingest for ``source`` holds while it runs (``owner``, and ``until`` when it lapses)."""
    return {METER_PK: {"S": INGEST_PREFIX + source}, METER_SK: {"S": "lock"}}


def meter_table_kwargs(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the local metering table, matching what the Pulumi program deploys."""
    return {"TableName": table_name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": METER_PK, "KeyType": "HASH"}, {"AttributeName": METER_SK, "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": METER_PK, "AttributeType": "S"},
                                     {"AttributeName": METER_SK, "AttributeType": "S"}]}
