"""The listing Lambda: ``GET /_counts`` returns the counts. Read-only: it only ever calls Scan and GetItem."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from handler import dashboard, events
from handler.dynamo import DynamoFailure, classify, create_client
from handler.queries import BadQuery, decode_cursor, get_route, list_page, top_routes
from handler.responses import Answered, admit, error_response, json_response, response
from handler.routes import RouteError, normalize
from handler.settings import Settings

SETTINGS = Settings.from_env(os.environ)  # fail fast at init on a bad environment
LOGGER = logging.getLogger("route_counter.listing")
READ_METHODS = ("GET", "HEAD")
ALLOWED_METHODS = (*READ_METHODS, "OPTIONS")

DEFAULT_LIMIT, MAX_LIMIT, MAX_TOP = 100, 1000, 1000
BADGE_PATH = "badge"
BADGE_CACHE = "public, max-age=300"  # badges are fetched by image proxies (GitHub's camo): let them cache
MAX_LABEL = 40

_client = None


def _dynamodb() -> Any:
    """The reader's client, created once per container on first use. Reads are idempotent: botocore may retry."""
    global _client
    if _client is None:
        _client = create_client(retries=True)
    return _client


def _int_param(query: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def badge(request: events.Request, settings: Settings, client: Callable[[], Any], cors: dict[str, str]) -> dict[str, Any]:
    """``/_counts/badge?route=/x``: an SVG "visits | 1,234", or shields.io endpoint JSON with ``format=shields``."""
    if "route" not in request.query:
        raise BadQuery("badge needs ?route=/path")
    route = settings.rules.resolve(request.query["route"], encoded=False)
    record = get_route(client(), settings.table_name, route)
    svg, shields = dashboard.badge(request.query.get("label", "visits")[:MAX_LABEL], record["count"] if record else 0)
    if request.query.get("format") == "shields":
        return json_response(200, {**shields, "cacheSeconds": 300}, cors, {"Cache-Control": BADGE_CACHE})
    return response(200, svg, cors, "image/svg+xml", {"Cache-Control": BADGE_CACHE})


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
    try:
        request, cors = admit(event, context, settings.cors_origins, ALLOWED_METHODS, READ_METHODS)
    except Answered as early:
        return early.response
    rid = request.request_id
    try:
        if request.path_params.get("proxy", "").strip("/") == BADGE_PATH:
            return badge(request, settings, client, cors)
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
    if dashboard.wants_html(request.header("accept"), request.query):
        first = payload if "routes" in payload else {"routes": [payload], "next": None}
        headers = {"Content-Security-Policy": dashboard.CSP, "X-Content-Type-Options": "nosniff"}
        return response(200, dashboard.page(first), cors, dashboard.HTML_TYPE, headers)
    return json_response(status, payload, cors)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """List the counts; never writes.

    Event: API Gateway REST API Lambda-proxy event (payload 1.0) for ``/_counts`` or ``/_counts/{proxy+}``.
    ``Accept: text/html`` (or ``format=html``) returns the dashboard page instead of JSON;
    ``/_counts/badge?route=/x`` an SVG badge (``format=shields``: shields.io endpoint JSON).
    Query: ``limit`` (1..1000, default 100) and ``cursor`` page through the table; ``prefix=/api`` filters;
    ``route=/a/b`` returns one route; ``top=N`` (1..1000) the N most-hit routes, reading at most
    TOP_SCAN_BUDGET items (``"truncated": true`` when that bound is hit).
    Response: 200 ``{"routes": [{"route", "count", "methods", "firstSeen", "lastSeen"}], "next": cursor|null}``;
    405 with Allow for methods other than GET/HEAD/OPTIONS; 400 for a bad query or edited cursor.
    """
    return handle(event, context, SETTINGS, _dynamodb)
