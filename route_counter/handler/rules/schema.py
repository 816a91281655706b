"""The DynamoDB table schema: the one definition the Pulumi program, handlers, local server and tests share."""

from __future__ import annotations

import time
from typing import Any, Mapping

from ..rules import buckets
from ..rules.countries import CODES, COUNTRY_PREFIX

# Partition key: the normalised route path. No sort key: one item per route.
KEY = "route"
KEY_TYPE = "S"

# Item attributes.
COUNT = "count"  # N, total hits
FIRST_SEEN = "firstSeen"  # S, ISO-8601 UTC
LAST_SEEN = "lastSeen"  # S, ISO-8601 UTC
# Per-method counts are top-level numbers named "count:GET", "count:POST", ...: top-level so that one
# UpdateItem can ADD to them (DynamoDB cannot ADD into a map attribute that does not exist yet).
METHOD_COUNT_PREFIX = "count:"
# The same goes for the time buckets (handler/rules/buckets.py: "haou5" and "d0g19"), the viewer
# countries ("c:DE", handler/rules/countries.py) and short rate windows ("w:60:29493213", handler/rules/limits.py).
HOUR_KEY, DAY_KEY = "%Y-%m-%dT%H", "%Y-%m-%d"  # how records show bucket times (UTC)
BOTS = "bots"  # N, hits from listed crawlers (countBots), never in count
VISITORS = "visitors"  # N, distinct visitors per day, summed (uniqueVisitors); per day in "v..." buckets
EXPIRES = "expires"  # N, epoch seconds: with routeExpiryDays, DynamoDB's TTL deletes the route after it
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
STATUS_PREFIX = "s:"  # N, metered requests per status class ("s:2xx"), from access logs (meter)

# The methods API Gateway REST APIs accept; OPTIONS is answered as a preflight and never counted.
COUNTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
KNOWN_METHODS = COUNTED_METHODS + ("OPTIONS",)
# Any other method an access-log line names (an HTTP API's own, or a forged line's) counts under this one
# name: the methods an item records are these 8 whatever the lines say, so no delivery can grow an item or
# an update expression by inventing methods.
OTHER_METHOD = "OTHER"
RECORDED_METHODS = KNOWN_METHODS + (OTHER_METHOD,)


def iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-24T02:03:04.567Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def recorded_method(method: str) -> str:
    """The name a method is recorded under: its own for the methods API Gateway routes, else OTHER_METHOD."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def method_attribute(method: str) -> str:
    """Attribute name holding the count of one HTTP method."""
    return METHOD_COUNT_PREFIX + recorded_method(method)


def status_attribute(status_class: str) -> str:
    return STATUS_PREFIX + status_class


def key(route: str) -> dict[str, dict[str, str]]:
    """The low-level DynamoDB key of a route."""
    return {KEY: {KEY_TYPE: route}}


def numbers(item: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """The item's number attributes by name."""
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}


def item_to_record(
    item: Mapping[str, Mapping[str, Any]], t: float = 0.0, *, series: bool = False, window: str | None = None,
    days: buckets.Days = buckets.UTC,
) -> dict[str, Any]:
    """A low-level DynamoDB item as the JSON record the listing API returns, as seen at time t:
    ``series`` adds the retained ``hourly`` and ``daily`` buckets, ``window`` adds ``windowCount``
    (days: the stack's calendar days).
    An item written before buckets existed reads as zero history."""
    found = numbers(item)
    methods = {name[len(METHOD_COUNT_PREFIX):]: n for name, n in found.items() if name.startswith(METHOD_COUNT_PREFIX)}
    record: dict[str, Any] = {
        "route": item[KEY]["S"],
        "count": found.get(COUNT, 0),
        "methods": dict(sorted(methods.items())),
        "firstSeen": item[FIRST_SEEN]["S"] if FIRST_SEEN in item else None,
        "lastSeen": item[LAST_SEEN]["S"] if LAST_SEEN in item else None,
    }
    for name in (BOTS, VISITORS):
        if found.get(name):
            record[name] = found[name]
    if EXPIRES in found:
        record[EXPIRES] = iso(found[EXPIRES])  # when TTL may delete it, if nobody hits it before
    statuses = {name[len(STATUS_PREFIX):]: n for name, n in found.items() if name.startswith(STATUS_PREFIX) and n}
    if statuses:  # a metered route (access logs): its requests per status class
        record["statuses"] = dict(sorted(statuses.items()))
    countries = {name[len(COUNTRY_PREFIX):]: n for name, n in found.items() if name.startswith(COUNTRY_PREFIX) and n}
    if countries:
        record["countries"] = dict(sorted(countries.items(), key=lambda kv: (-kv[1], kv[0])))
    if series:
        record["hourly"], record["daily"] = buckets.hourly(found, t), buckets.daily(found, t, days=days)
        if VISITORS in found:
            record["dailyVisitors"] = buckets.daily(found, t, buckets.VISITOR_DAILY, days)
    if window:
        record["windowCount"] = buckets.window_count(found, window, t, days)
    return record


def bucket_attribute(key: str) -> str:
    """The item attribute of a record's bucket key ("2026-11-24T05" -> "haou5"); ValueError if bad."""
    hourly = len(key) == 13
    parsed = time.strptime(key, HOUR_KEY if hourly else DAY_KEY)
    if time.strftime(HOUR_KEY if hourly else DAY_KEY, parsed) != key:  # strptime takes "2026-1-5" too
        raise ValueError(f"{key!r} is not a bucket time like 2026-11-24T05 or 2026-11-24")
    import calendar

    seconds = calendar.timegm(parsed)
    return buckets.hour_name(seconds // buckets.HOUR) if hourly else buckets.day_name(seconds // buckets.DAY)


def record_to_item(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The inverse of item_to_record (for imports): a JSON record as a low-level DynamoDB item.
    ValueError for a bucket key or country code it cannot hold."""
    item = {KEY: {KEY_TYPE: record["route"]}, COUNT: {"N": str(int(record["count"]))}}
    for name in (BOTS, VISITORS):
        if record.get(name):
            item[name] = {"N": str(int(record[name]))}
    for key, count in (record.get("dailyVisitors") or {}).items():
        item[buckets.visitors_of(bucket_attribute(key))] = {"N": str(int(count))}
    for method, count in (record.get("methods") or {}).items():
        item[method_attribute(method)] = {"N": str(int(count))}
    for series in ("hourly", "daily"):
        for key, count in (record.get(series) or {}).items():
            item[bucket_attribute(key)] = {"N": str(int(count))}
    for code, count in (record.get("countries") or {}).items():
        if code not in CODES:
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        item[COUNTRY_PREFIX + code] = {"N": str(int(count))}
    for status_class, count in (record.get("statuses") or {}).items():
        if status_class not in STATUS_CLASSES:
            raise ValueError(f"{status_class!r} is not a status class like 2xx")
        item[status_attribute(status_class)] = {"N": str(int(count))}
    for name in (FIRST_SEEN, LAST_SEEN):
        if record.get(name):
            item[name] = {"S": str(record[name])}
    return item


# What a DynamoDB number holds: 38 significant digits, and positive values below 10^126 (AWS, "Supported
# data types"); past either, a write fails with "Number overflow".
MAX_DIGITS, MAX_NUMBER = 38, 10**126
# The largest count a person may set or import: every count below 10^38 has at most 38 digits, so this
# leaves room for a trillion more hits (a count of 10^40 holds, but 10^40 + 1 needs 41 digits: every
# later hit would fail).
MAX_SET_COUNT = 10**MAX_DIGITS - 10**12
MAX_ITEM_BYTES = 400 * 1024  # an item's largest size


def number_size(text: str) -> int:
    """DynamoDB's size of a number: 1 byte per two significant digits, plus 1 (AWS, "Item sizes")."""
    from decimal import Decimal  # only imports and the bench size items: kept out of the counter's cold start

    digits = str(abs(Decimal(text))).replace(".", "").strip("0") or "0"
    return -(-len(digits) // 2) + 1


def item_size(item: Mapping[str, Mapping[str, str]]) -> int:
    """An item's size by DynamoDB's rules: each attribute's name (UTF-8 bytes) plus its value."""
    size = 0
    for name, value in item.items():
        size += len(name.encode("utf-8"))
        if "S" in value:
            size += len(value["S"].encode("utf-8"))
        elif "N" in value:
            size += number_size(value["N"])
        else:
            raise ValueError(f"{name}: only S and N attributes are sized here")
    return size


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for local and test tables, matching what the Pulumi program deploys."""
    return {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": KEY_TYPE}],
        "BillingMode": "PAY_PER_REQUEST",
    }
