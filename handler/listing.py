"""The listing Lambda: ``GET /_counts`` returns the counts. Read-only: it only ever calls Scan and GetItem."""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import json
import logging
import os
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from handler import events, schema
from handler.dynamo import DynamoFailure, classify, create_client
from handler.responses import cors_headers, error_response, json_response, method_not_allowed, preflight
from handler.routes import RouteError, normalize
from handler.settings import Settings

SETTINGS = Settings.from_env(os.environ)  # fail fast at init on a bad environment
LOGGER = logging.getLogger("route_counter.listing")
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_TOP = 1000
# ?top=N reads the whole table; it stops after this many items and says "truncated": true.
TOP_SCAN_BUDGET = 50_000
# A filtered page stops after this many Scan calls (each reads at most 1 MB) and hands back a cursor.
MAX_SCANS_PER_PAGE = 10

# The cursor is the last key read, checksummed so that an edited cursor is refused (400). It is not a
# secret: the listing is public, the checksum only catches tampering and truncation.
_CURSOR_KEY = b"route-counter/cursor/v1"

_client = None


def _dynamodb() -> Any:
    """The reader's client, created once per container on first use. Reads are idempotent: botocore may retry."""
    global _client
    if _client is None:
        _client = create_client(retries=True)
    return _client


class BadQuery(ValueError):
    """A query string the listing cannot answer: 400."""


def encode_cursor(route: str, prefix: str) -> str:
    payload = json.dumps({"r": route, "p": prefix}, separators=(",", ":"), ensure_ascii=False).encode()
    mac = hashlib.blake2b(payload, key=_CURSOR_KEY, digest_size=8).digest()
    return base64.urlsafe_b64encode(mac + payload).rstrip(b"=").decode()


def decode_cursor(cursor: str, prefix: str) -> str:
    """The route to continue after; BadQuery when the cursor was edited or belongs to another filter."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise BadQuery("cursor is not valid") from None
    mac, payload = raw[:8], raw[8:]
    if not hmac.compare_digest(mac, hashlib.blake2b(payload, key=_CURSOR_KEY, digest_size=8).digest()):
        raise BadQuery("cursor is not valid")
    data = json.loads(payload)
    if data.get("p") != prefix:
        raise BadQuery("cursor belongs to another prefix filter")
    return data["r"]


def _int_param(query: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (-r["count"], r["route"]))


def _prefix_filter(prefix: str) -> dict[str, Any]:
    """Scan filter for routes under a prefix at a segment boundary."""
    if prefix == "/":
        return {}
    return {
        "FilterExpression": "#r = :p OR begins_with(#r, :ps)",
        "ExpressionAttributeNames": {"#r": schema.KEY},
        "ExpressionAttributeValues": {":p": {"S": prefix}, ":ps": {"S": prefix + "/"}},
    }


def get_route(client: Any, table: str, route: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=table, Key=schema.key(route)).get("Item")
    return schema.item_to_record(item) if item else None


def list_page(client: Any, table: str, prefix: str, limit: int, after: str | None) -> dict[str, Any]:
    """One page of up to ``limit`` routes, sorted by count within the page, and the cursor to the next."""
    records: list[dict[str, Any]] = []
    start = schema.key(after) if after is not None else None
    for _ in range(MAX_SCANS_PER_PAGE):
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit - len(records), **_prefix_filter(prefix)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        records.extend(schema.item_to_record(item) for item in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start or len(records) >= limit:
            break
    cursor = encode_cursor(start[schema.KEY]["S"], prefix) if start else None
    return {"routes": _order(records), "next": cursor}


def top_routes(client: Any, table: str, prefix: str, n: int, budget: int = TOP_SCAN_BUDGET) -> dict[str, Any]:
    """The n most-hit routes over the whole table, reading at most ``budget`` items; memory stays O(n + page)."""
    best: list[dict[str, Any]] = []
    scanned, start = 0, None
    while scanned < budget:
        kwargs: dict[str, Any] = {"TableName": table, "Limit": budget - scanned, **_prefix_filter(prefix)}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        scanned += page.get("ScannedCount", 0)
        records = [schema.item_to_record(item) for item in page.get("Items", [])]
        best = heapq.nsmallest(n, best + records, key=lambda r: (-r["count"], r["route"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return {"routes": best, "truncated": bool(start), "scanned": scanned}


def answer(request: events.Request, settings: Settings, client: Callable[[], Any]) -> tuple[int, Any]:
    """Status and JSON payload for a GET; raises BadQuery, RouteError or DynamoDB errors."""
    query, rules, table = request.query, settings.rules, settings.table_name
    if request.path_params.get("proxy"):
        return 404, None
    picked = [name for name in ("route", "top", "cursor") if name in query]
    if len(picked) > 1:
        raise BadQuery(f"use only one of route, top and cursor (got {', '.join(picked)})")
    if "route" in query:
        route = rules.resolve(query["route"], encoded=False)  # query values arrive decoded
        record = get_route(client(), table, route)
        return (200, record) if record else (404, route)
    prefix = normalize(query.get("prefix", "/"))
    top = _int_param(query, "top", None, 1, MAX_TOP)
    if top is not None:
        return 200, top_routes(client(), table, prefix, top)
    limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    after = decode_cursor(query["cursor"], prefix) if "cursor" in query else None
    return 200, list_page(client(), table, prefix, limit, after)


def handle(event: Any, context: Any, settings: Settings, client: Callable[[], Any]) -> dict[str, Any]:
    """Core of the handler with its settings and client factory passed in."""
    cors = cors_headers(None, settings.cors_origins)
    try:
        request = events.parse(event, context)
    except events.BadEvent as exc:
        return error_response(400, "bad_event", str(exc), cors)
    cors = cors_headers(request.header("origin"), settings.cors_origins)
    rid = request.request_id
    if request.method == "OPTIONS":
        return preflight(cors, ALLOWED_METHODS, request.header("access-control-request-headers"))
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(cors, ALLOWED_METHODS, request.method, rid)
    try:
        status, payload = answer(request, settings, client)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc), cors, rid)
    except RouteError as exc:
        return error_response(exc.status, exc.code, exc.message, cors, rid)
    except (ClientError, BotoCoreError) as exc:
        failure: DynamoFailure = classify(exc, write=False)
        LOGGER.error("listing failed", extra={"requestId": rid, "status": failure.status, "cause": failure.cause})
        return error_response(failure.status, failure.code, failure.message, cors, rid, failure.headers)
    if status == 404 and payload is None:
        return error_response(404, "not_found", "no such listing path", cors, rid)
    if status == 404:
        return error_response(404, "route_not_found", f"{payload} has not been hit", cors, rid)
    return json_response(status, payload, cors)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """List the counts; never writes.

    Event: API Gateway REST API Lambda-proxy event (payload 1.0) for ``/_counts`` or ``/_counts/{proxy+}``.
    Query: ``limit`` (1..1000, default 100) and ``cursor`` page through the table; ``prefix=/api`` filters;
    ``route=/a/b`` returns one route; ``top=N`` (1..1000) the N most-hit routes, reading at most
    TOP_SCAN_BUDGET items (``"truncated": true`` when that bound is hit).
    Response: 200 ``{"routes": [{"route", "count", "methods", "firstSeen", "lastSeen"}], "next": cursor|null}``;
    405 with Allow for methods other than GET/HEAD/OPTIONS; 400 for a bad query or edited cursor.
    """
    return handle(event, context, SETTINGS, _dynamodb)
