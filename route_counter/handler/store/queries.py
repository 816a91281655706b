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

from ..clock import sleep
from ..rules import buckets, meter_schema, parts, schema
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
    """A string that could be a stored key: a normalised route within DynamoDB's key size, or a part of one
    (a page may end on a hot part, handler/rules/parts.py), or an idempotency claim."""
    if not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) > DYNAMODB_KEY_LIMIT:
        return False
    if value.startswith(parts.CLAIM_MARK):
        return _CLAIM.fullmatch(value) is not None
    found = parts.parse(value)
    if found is None or (found.route != value and parts.part_key(found.route, found.region, found.gen, found.number) != value
                         and parts.head_key(found.route, found.region) != value):
        return False
    try:
        return normalize(found.route) == found.route
    except RouteError:
        return False


_CLAIM = re.compile(r"^!idem:[0-9a-f]{64}$")


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
    regions: tuple[str, ...] = ("",)  # whose heads a route sums: the home region's ("") first (replicaRegions)

    def record(self, item: Any) -> dict[str, Any]:
        return schema.item_to_record(item, self.t, series=self.series, window=self.window, days=self.days)

    def records(self, items: list[Any]) -> list[dict[str, Any]]:
        found = [self.record(item) for item in items]
        return [r for r in found if r["windowCount"] > 0] if self.window else found

    def rank(self, record: dict[str, Any]) -> tuple[int, str]:
        return -record["windowCount" if self.window else "count"], record["route"]


def _order(records: list[dict[str, Any]], view: View) -> list[dict[str, Any]]:
    return sorted(records, key=view.rank)


def _prefix_filter(prefix: str, regions: tuple[str, ...]) -> dict[str, Any]:
    """Scan filter for routes under a prefix at a segment boundary, in every region's heads."""
    if prefix == "/":
        return {}
    values: dict[str, Any] = {}
    clauses = []
    for i, region in enumerate(regions):
        values[f":p{i}"], values[f":s{i}"] = {"S": parts.head_key(prefix, region)}, {"S": parts.head_key(prefix, region) + "/"}
        clauses.append(f"#r = :p{i} OR begins_with(#r, :s{i})")
    return {"FilterExpression": " OR ".join(clauses), "ExpressionAttributeNames": {"#r": schema.KEY},
            "ExpressionAttributeValues": values}


BATCH_KEYS = 100  # BatchGetItem's most keys a call
MAX_UNPROCESSED_ROUNDS = 8


def batch_get(client: Any, table: str, keys: list[str]) -> list[dict[str, Any]]:
    """The items stored under ``keys`` (absent ones left out), 100 keys a call, asking again for what
    DynamoDB hands back unprocessed (with a short backoff); botocore.exceptions' errors pass through."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_KEYS):
        wanted: dict[str, Any] = {"Keys": [schema.key(k) for k in keys[start:start + BATCH_KEYS]]}
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            answer = client.batch_get_item(RequestItems={table: wanted})
            found.extend(answer.get("Responses", {}).get(table, []))
            wanted = answer.get("UnprocessedKeys", {}).get(table) or {}
            if not wanted.get("Keys"):
                break
            sleep(0.05 * 2 ** attempt)
        else:
            raise RuntimeError("DynamoDB kept handing back unprocessed keys")
    return found


def complete(client: Any, table: str, items: list[dict[str, Any]], regions: tuple[str, ...] = ("",)) -> list[dict[str, Any]]:
    """Scanned items as one merged item per route (handler/rules/parts.py): parts and idempotency claims
    are skipped; each route is taken where the scan met its first region's head (so a paged listing shows it
    once) and summed with its other regions' heads and every head's hot parts. A cold route of a stack in
    one region costs no read beyond the scan."""
    heads: dict[str, dict[str, dict[str, Any]]] = {}
    seen: dict[str, set[str]] = {}
    for item in items:
        found = parts.parse(item[schema.KEY]["S"])
        if found is None or found.gen or found.region not in regions:
            continue
        heads.setdefault(found.route, {})[found.region] = item
        seen.setdefault(found.route, set()).add(found.region)
    if len(regions) > 1:
        wanted = [parts.head_key(route, region) for route in heads for region in regions if region not in heads[route]]
        for item in batch_get(client, table, wanted):
            found = parts.parse(item[schema.KEY]["S"])
            if found is not None:
                heads[found.route][found.region] = item
        first = {route: next(r for r in regions if r in by_region) for route, by_region in heads.items()}
        heads = {route: by_region for route, by_region in heads.items() if first[route] in seen[route]}
    hot = [key for route, by_region in heads.items() for region, head in by_region.items()
           for key in parts.hot_keys(route, region, head)]
    extra: dict[str, list[dict[str, Any]]] = {}
    for item in batch_get(client, table, hot) if hot else ():
        found = parts.parse(item[schema.KEY]["S"])
        if found is not None:
            extra.setdefault(found.route, []).append(item)
    return [_single(route, [*by_region.values(), *extra.get(route, [])]) for route, by_region in heads.items()]


def _single(route: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A route's items as one: its head as it is when it is alone (the common case, nothing to add)."""
    if len(items) == 1 and parts.PARTS not in items[0] and items[0][schema.KEY]["S"] == route:
        return items[0]
    return parts.merge(route, items)


def route_items(client: Any, table: str, route: str, regions: tuple[str, ...] = ("",)) -> list[dict[str, Any]]:
    """Every item of one route (its heads, then their hot parts): one GetItem for a cold route of a stack
    in one region."""
    if len(regions) == 1:
        item = client.get_item(TableName=table, Key=schema.key(parts.head_key(route, regions[0]))).get("Item")
        heads = [(regions[0], item)] if item else []
    else:
        found = {parts.parse(i[schema.KEY]["S"]): i for i in batch_get(client, table, [parts.head_key(route, r) for r in regions])}
        heads = [(f.region, i) for f, i in found.items() if f is not None]
    hot = [key for region, head in heads for key in parts.hot_keys(route, region, head)]
    return [head for _, head in heads] + (batch_get(client, table, hot) if hot else [])


def get_route(client: Any, table: str, route: str, view: View) -> dict[str, Any] | None:
    """One route's record with its series (and windowCount with a window), its parts summed."""
    items = route_items(client, table, route, view.regions)
    return view._replace(series=True).record(_single(route, items)) if items else None


def count_request(table: str, route: str) -> dict[str, Any]:
    """GetItem of a route's total alone (an ignored hit shows it): half a read unit, eventually consistent;
    with the head's part list, whose totals are then read too (``count_of``)."""
    return {"TableName": table, "Key": schema.key(route), "ProjectionExpression": "#c, #p, #g",
            "ExpressionAttributeNames": {"#c": schema.COUNT, "#p": parts.PARTS, "#g": parts.GEN}}


def list_page(client: Any, table: str, prefix: str, limit: int, after: str | None, view: View) -> dict[str, Any]:
    """One page of up to ``limit`` routes, sorted within the page, and the cursor to the next."""
    records: list[dict[str, Any]] = []
    start = schema.key(after) if after is not None else None
    for _ in range(MAX_SCANS_PER_PAGE):
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit - len(records), **_prefix_filter(prefix, view.regions)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        records.extend(view.records(complete(client, table, page.get("Items", []), view.regions)))
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
        kwargs: dict[str, Any] = {"TableName": table, "Limit": budget - scanned, **_prefix_filter(prefix, view.regions)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        scanned += page.get("ScannedCount", 0)
        items = complete(client, table, page.get("Items", []), view.regions)
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
