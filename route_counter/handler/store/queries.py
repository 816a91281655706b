"""Reading the counts: one route, a page, the top N. Pure of configuration: the listing function and the
admin CLI (`python -m counts`) share it. Only Scan and GetItem on the counts (the listing's role allows
nothing else), and Query on the metering table for a month's usage."""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from collections import Counter
from typing import Any, NamedTuple

from ..rules import buckets, meter_schema, schema
from ..rules.routes import DYNAMODB_KEY_LIMIT, RouteError, normalize

# ?top=N reads the whole table; it stops after this many items and says "truncated": true.
TOP_SCAN_BUDGET = 50_000
MAX_TOP = 1000  # the largest N
# A filtered page stops after this many Scan calls (each reads at most 1 MB) and hands back a cursor.
MAX_SCANS_PER_PAGE = 10

# The cursor is plain data, the filter and the last key read: [prefix, route] as JSON in URL-safe base64.
# Anyone may make one (the listing is public); it only says where a Scan resumes, so decode_cursor checks
# its whole shape and nothing else is needed.
MAX_CURSOR = 8192  # characters: two keys of at most 2,048 UTF-8 bytes each, base64 of their JSON
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,%d}$" % MAX_CURSOR)


class BadQuery(ValueError):
    """A query string the listing cannot answer: 400."""


def encode_cursor(route: str, prefix: str) -> str:
    payload = json.dumps([prefix, route], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def _canonical_key(value: Any) -> bool:
    """A string that could be a stored route: normalised and within DynamoDB's key size."""
    if not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) > DYNAMODB_KEY_LIMIT:
        return False
    try:
        return normalize(value) == value
    except RouteError:
        return False


def decode_cursor(cursor: str, prefix: str) -> str:
    """The route to continue after; BadQuery for anything but a cursor this listing made for this filter."""
    if not _CURSOR.fullmatch(cursor):
        raise BadQuery("cursor is not valid")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadQuery("cursor is not valid") from None
    if not (isinstance(data, list) and len(data) == 2 and all(_canonical_key(v) for v in data)):
        raise BadQuery("cursor is not valid")
    if data[0] != prefix:
        raise BadQuery("cursor belongs to another prefix filter")
    return str(data[1])


class View(NamedTuple):
    """How records are read: as of time t, with their series, and ranked by a window's hits if one is given
    (routes without hits in the window are left out)."""

    t: float
    window: str | None = None
    series: bool = False
    days: buckets.Days = buckets.UTC  # the stack's calendar days (timezone)

    def record(self, item: Any) -> dict[str, Any]:
        return schema.item_to_record(item, self.t, series=self.series, window=self.window, days=self.days)

    def records(self, items: list[Any]) -> list[dict[str, Any]]:
        found = [self.record(item) for item in items]
        return [r for r in found if r["windowCount"] > 0] if self.window else found

    def rank(self, record: dict[str, Any]) -> tuple[int, str]:
        return -record["windowCount" if self.window else "count"], record["route"]


def _order(records: list[dict[str, Any]], view: View) -> list[dict[str, Any]]:
    return sorted(records, key=view.rank)


def _prefix_filter(prefix: str) -> dict[str, Any]:
    """Scan filter for routes under a prefix at a segment boundary."""
    if prefix == "/":
        return {}
    return {
        "FilterExpression": "#r = :p OR begins_with(#r, :ps)",
        "ExpressionAttributeNames": {"#r": schema.KEY},
        "ExpressionAttributeValues": {":p": {"S": prefix}, ":ps": {"S": prefix + "/"}},
    }


def get_route(client: Any, table: str, route: str, view: View) -> dict[str, Any] | None:
    """One route's record with its series (and windowCount with a window)."""
    item = client.get_item(TableName=table, Key=schema.key(route)).get("Item")
    return view._replace(series=True).record(item) if item else None


def count_request(table: str, route: str) -> dict[str, Any]:
    """GetItem of a route's total alone (an ignored hit shows it): half a read unit, eventually consistent."""
    return {"TableName": table, "Key": schema.key(route), "ProjectionExpression": "#c",
            "ExpressionAttributeNames": {"#c": schema.COUNT}}


def list_page(client: Any, table: str, prefix: str, limit: int, after: str | None, view: View) -> dict[str, Any]:
    """One page of up to ``limit`` routes, sorted within the page, and the cursor to the next."""
    records: list[dict[str, Any]] = []
    start = schema.key(after) if after is not None else None
    for _ in range(MAX_SCANS_PER_PAGE):
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit - len(records), **_prefix_filter(prefix)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        records.extend(view.records(page.get("Items", [])))
        start = page.get("LastEvaluatedKey")
        if not start or len(records) >= limit:
            break
    cursor = encode_cursor(start[schema.KEY]["S"], prefix) if start else None
    return {"routes": _order(records, view), "next": cursor, "asOf": schema.iso(view.t)}


def top_routes(
    client: Any, table: str, prefix: str, n: int, view: View, budget: int = TOP_SCAN_BUDGET
) -> dict[str, Any]:
    """The n most-hit routes (in the view's window, if any) over the whole table, reading at most
    ``budget`` items, and ``totals``: every scanned route's hits per hour and per day summed (the
    dashboard's chart). Memory stays O(n + page)."""
    best: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    scanned, start = 0, None
    while scanned < budget:
        kwargs: dict[str, Any] = {"TableName": table, "Limit": budget - scanned, **_prefix_filter(prefix)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        scanned += page.get("ScannedCount", 0)
        items = page.get("Items", [])
        for item in items:
            totals.update({k: int(v["N"]) for k, v in item.items() if buckets.is_hit_bucket(k) and "N" in v})
        best = heapq.nsmallest(n, best + view.records(items), key=view.rank)
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    series = {"hourly": buckets.hourly(totals, view.t), "daily": buckets.daily(totals, view.t, days=view.days)}
    return {"routes": best, "truncated": bool(start), "scanned": scanned, "totals": series, "asOf": schema.iso(view.t)}


MAX_USAGE_ITEMS = 100_000  # one month's (API key, route) pairs read at most; "truncated" past that
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def check_month(month: str) -> str:
    if not _MONTH.fullmatch(month):
        raise BadQuery("month must be a month like 2026-11")
    return month


def usage_month(client: Any, table: str, month: str, now: float, budget: int = MAX_USAGE_ITEMS) -> dict[str, Any]:
    """A month's usage per API key (one paged Query per partition it is spread over), biggest consumer
    first: ``{"month", "final", "finalAt", "consumers": [{"consumer", "count", "routes": {route: n}}],
    "truncated"}``; ``final`` is false while late deliveries may still add to the month."""
    consumers: dict[str, dict[str, int]] = {}
    read, truncated = 0, False
    for partition in meter_schema.usage_partitions(month):
        start = None
        while not truncated:
            truncated = read >= budget  # the budget is spent: say so rather than read on
            if truncated:
                break
            kwargs: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "#pk = :pk",
                                      "ExpressionAttributeNames": {"#pk": meter_schema.METER_PK},
                                      "ExpressionAttributeValues": {":pk": {"S": partition}},
                                      "Limit": min(1000, budget - read)}
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                routes = consumers.setdefault(item[meter_schema.USAGE_CONSUMER]["S"], {})
                route = item[meter_schema.USAGE_ROUTE]["S"]
                routes[route] = routes.get(route, 0) + int(item[meter_schema.USAGE_COUNT]["N"])
            read += len(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    ranked = sorted(consumers.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    found = [{"consumer": c, "count": sum(r.values()), "routes": dict(sorted(r.items(), key=lambda kv: (-kv[1], kv[0])))}
             for c, r in ranked]
    final_at = meter_schema.usage_final_at(month)
    return {"month": month, "final": now >= final_at, "finalAt": schema.iso(final_at), "consumers": found,
            "truncated": truncated}
