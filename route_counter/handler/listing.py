"""The listing Lambda: ``GET /_counts`` returns the counts. Read-only: it only ever calls Scan and GetItem."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from .clock import now
from .rules import buckets
from .rules.routes import RouteError, RouteRules, normalize
from .rules.settings import LISTING_VARIABLES, Settings
from .store.dynamo import classify, create_client
from .store.outcomes import DynamoFailure
from .store.queries import (MAX_TOP, BadQuery, View, check_month, decode_cursor, get_route, list_page,
                                   top_routes, usage_month)
from .web import badge, dashboard, events
from .web.responses import Answered, admit, error_response, json_response, last_resort, response, vary

SETTINGS = Settings.from_env(os.environ, LISTING_VARIABLES)  # fail fast at init on a bad environment
LOGGER = logging.getLogger("route_counter.listing")
READ_METHODS = ("GET", "HEAD")
ALLOWED_METHODS = (*READ_METHODS, "OPTIONS")

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
_DIGITS = re.compile(r"^[0-9]{1,4}$")  # ASCII digits only: str.isdigit() accepts '²', which int() refuses
# top=N reads up to 50,000 items: its answer is kept this long per container and may be cached as long by
# browsers and proxies, so a burst of dashboard views or scripted calls costs one scan a minute. A guarded
# listing's answer is the key holder's alone: only the caller's own browser may keep it (a shared cache
# in front would hand it to callers without the key).
TOP_CACHE_SECONDS = 60
TOP_CACHE_CONTROL = {"public": f"public, max-age={TOP_CACHE_SECONDS}", "guarded": f"private, max-age={TOP_CACHE_SECONDS}"}
_TOP_CACHE_SIZE = 64
_top_cache: dict[tuple[str, str, int, View], tuple[float, dict[str, Any]]] = {}
BADGE_CACHE = "public, max-age=300"  # badges are fetched by image proxies (GitHub's camo): let them cache

_client = None


def _dynamodb() -> Any:
    """The reader's client, created once per container on first use. Reads are idempotent: botocore may retry."""
    global _client
    if _client is None:
        _client = create_client(retries=True)
    return _client


def _int_param(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """An optional whole-number parameter in [low, high]; None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def mark_links(records: list[dict[str, Any]], settings: Settings) -> None:
    """Download and redirect routes say so (``"link": "download"`` / ``"redirect"``); others carry nothing."""
    links = settings.links
    for record in records:
        if record["route"] in links.downloads:
            record["link"] = "download"
        elif record["route"] in links.redirects:
            record["link"] = "redirect"


def features(settings: Settings) -> dict[str, bool]:
    """Which optional counts this stack keeps, so the dashboard shows only the columns that mean something."""
    return {"visitors": bool(settings.visitor_table), "bots": settings.count_bots, "countries": settings.count_countries}


def cached_top(
    client: Any, table: str, prefix: str, n: int, view: View, clock: Callable[[], float]
) -> dict[str, Any]:
    """top_routes, memoised per container for TOP_CACHE_SECONDS (bounded: the oldest entry goes first)."""
    key, at = (table, prefix, n, view._replace(t=0.0)), clock()
    hit = _top_cache.get(key)
    if hit and at - hit[0] < TOP_CACHE_SECONDS:
        return hit[1]
    result = top_routes(client(), table, prefix, n, view)
    if len(_top_cache) >= _TOP_CACHE_SIZE:
        del _top_cache[min(_top_cache, key=lambda k: _top_cache[k][0])]
    _top_cache[key] = (at, result)
    return result


def _view(query: Mapping[str, str], html: bool, days: buckets.Days, regions: tuple[str, ...] = ("",)) -> View:
    """``window=1h|24h|7d|30d`` and ``series=1`` (hourly and daily buckets in every record; the page's own)."""
    window = query.get("window")
    if window is not None and window not in buckets.WINDOWS:
        raise BadQuery(f"window must be one of {', '.join(buckets.WINDOWS)}")
    series = query.get("series", "0")
    if series not in ("0", "1"):
        raise BadQuery("series must be 0 or 1")
    return View(now(), window, series == "1" or html, days, regions)


def lookup(rules: RouteRules, raw: str) -> str:
    """The key ``?route=`` reads (query values arrive decoded): what the counter would count it under, or,
    outside ``allowPrefixes``, the route as written (a metered API's routes are its own, never refused)."""
    try:
        return rules.resolve(raw, encoded=False)
    except RouteError as exc:
        if exc.code != "route_not_counted":
            raise
        return rules.canonical(raw, encoded=False)


def usage_answer(request: events.Request, settings: Settings, client: Callable[[], Any], cors: dict[str, str]) -> dict[str, Any]:
    """``/_counts/usage?month=2026-11`` (default: this UTC month): metered requests per API key and route,
    on a guarded listing only: who used an API, and how much, is billing data."""
    if settings.counts_access == "public":
        return error_response(403, "usage_not_public", "usage per API key is served only on a guarded listing "
                              "(pulumi config set countsAccess apiKey, or iam); `python -m counts usage` reads it "
                              "with your AWS credentials", cors, request.request_id)
    if not settings.meter_table:
        return error_response(404, "metering_off", "this stack meters no API (meter, meterLogGroup)", cors, request.request_id)
    month = check_month(request.query.get("month") or time.strftime("%Y-%m", time.gmtime(now())))
    return json_response(200, usage_month(client(), settings.meter_table, month, now()), cors, {"Cache-Control": "no-store"})


def badge_answer(request: events.Request, settings: Settings, client: Callable[[], Any], cors: dict[str, str]) -> dict[str, Any]:
    """``/_counts/badge?route=/x``: an SVG "visits | 1,234", or shields.io endpoint JSON with ``format=shields``;
    ``color=``, ``style=`` and ``abbreviated=true`` as web/badge.py reads them (an unknown value: 400)."""
    if "route" not in request.query:
        raise BadQuery("badge needs ?route=/path")
    try:
        options = badge.badge_options(request.query, strict=True)  # before any read
    except badge.BadBadge as exc:
        raise BadQuery(str(exc)) from None
    route = lookup(settings.rules, request.query["route"])
    record = get_route(client(), settings.table_name, route, View(now(), days=settings.days, regions=settings.read_regions))
    svg, shields = badge.badge(badge.badge_label(request.query.get("label")), record["count"] if record else 0, options)
    if request.query.get("format") == "shields":
        return json_response(200, {**shields, "cacheSeconds": 300}, cors, {"Cache-Control": BADGE_CACHE})
    return response(200, svg, cors, "image/svg+xml", {"Cache-Control": BADGE_CACHE, **badge.SVG_HEADERS})


def answer(
    request: events.Request, settings: Settings, client: Callable[[], Any], clock: Callable[[], float], html: bool
) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON payload and extra headers for a GET; raises BadQuery, RouteError or DynamoDB errors."""
    query, rules, table = request.query, settings.rules, settings.table_name
    picked = [name for name in ("route", "top", "cursor") if name in query]
    if len(picked) > 1:
        raise BadQuery(f"use only one of route, top and cursor (got {', '.join(picked)})")
    view = _view(query, html, settings.days, settings.read_regions)
    if "route" in query:
        route = lookup(rules, query["route"])
        record = get_route(client(), table, route, view)
        return (200, record, {}) if record else (404, route, {})
    prefix = normalize(query.get("prefix", "/"))
    top = _int_param(query, "top", 1, MAX_TOP)
    # The dashboard opens on the most-hit routes of the whole table, not on the first Scan page.
    if top is None and html and "cursor" not in query and "limit" not in query:
        top = DEFAULT_LIMIT
    if top is not None:
        found = cached_top(client, table, prefix, top, view, clock)
        window = {"window": view.window} if view.window else {}
        cache = TOP_CACHE_CONTROL["public" if settings.counts_access == "public" else "guarded"]
        return 200, {**found, "top": top, **window}, {"Cache-Control": cache}
    limit = _int_param(query, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    after = decode_cursor(query["cursor"], prefix) if "cursor" in query else None
    return 200, list_page(client(), table, prefix, limit, after, view), {}


def handle(
    event: Any, context: Any, settings: Settings, client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
) -> dict[str, Any]:
    """Core of the handler with its settings, client factory and clock passed in."""
    try:
        request, cors = admit(event, context, settings.cors_origins, ALLOWED_METHODS, READ_METHODS)
    except Answered as early:
        return early.response
    rid = request.request_id
    html = dashboard.wants_html(request.header("accept"), request.query)
    # What to serve follows from the resource API Gateway matched: on a guarded stack the badge and the
    # page have resources of their own, open to anyone, and those serve the badge and the empty shell only.
    subpath = events.listing_subpath(request, settings.counts_path)
    if subpath == "" and "format" not in request.query:
        cors = vary(cors, "Accept")  # JSON or the page, by Accept: a cache must not hand one for the other
    try:
        if subpath == events.BADGE_PATH:
            return badge_answer(request, settings, client, cors)
        if subpath == events.DASHBOARD_PATH:
            return response(200, dashboard.page(dashboard.SHELL), cors, dashboard.HTML_TYPE, dashboard.PAGE_HEADERS)
        if subpath == events.USAGE_PATH:
            return usage_answer(request, settings, client, cors)
        if subpath != "":
            return error_response(404, "not_found", "no such listing path", cors, rid)
        status, payload, headers = answer(request, settings, client, clock, html)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc), cors, rid)
    except RouteError as exc:
        return error_response(exc.status, exc.code, exc.message, cors, rid)
    except (ClientError, BotoCoreError) as exc:
        failure: DynamoFailure = classify(exc)
        LOGGER.error("listing failed", extra={"requestId": rid, "status": failure.status, "cause": failure.cause})
        return error_response(failure.status, failure.code, failure.message, cors, rid, failure.headers)
    if status == 404:
        return error_response(404, "route_not_found", f"{payload} has not been hit", cors, rid)
    mark_links(payload.get("routes", [payload]), settings)
    if "routes" in payload:
        payload = {**payload, "features": features(settings), "timezone": settings.days.zone}
    if html:
        first = payload if "routes" in payload else {"routes": [payload], "next": None, "timezone": settings.days.zone}
        headers = {**headers, **dashboard.PAGE_HEADERS}
        return response(200, dashboard.page(first), cors, dashboard.HTML_TYPE, headers)
    return json_response(status, payload, cors, headers)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """List the counts; never writes.

    Event: API Gateway REST API Lambda-proxy event (payload 1.0) for ``/_counts`` or ``/_counts/{proxy+}``.
    ``Accept: text/html`` (or ``format=html``) returns the dashboard page instead of JSON;
    ``/_counts/badge?route=/x`` an SVG badge (``format=shields``: shields.io endpoint JSON).
    Query: ``limit`` (1..1000, default 100) and ``cursor`` page through the table; ``prefix=/api`` filters;
    ``route=/a/b`` returns one route with its ``hourly`` and ``daily`` series; ``top=N`` (1..1000) the N
    most-hit routes, reading at most TOP_SCAN_BUDGET items (``"truncated": true`` when that bound is hit),
    with ``totals`` (all routes' hits per hour and day), cached for TOP_CACHE_SECONDS. ``window=1h|24h|7d|30d``
    ranks and filters by hits in that window (``windowCount``); ``series=1`` adds the series to every record.
    The HTML view opens on ``top=100``.
    Response: 200 ``{"routes": [{"route", "count", "methods", "firstSeen", "lastSeen"}], "next": cursor|null,
    "features": {"visitors", "bots", "countries"}, "timezone": "UTC"}`` (which optional counts the stack
    keeps, and the zone whose calendar days the ``daily`` keys are);
    405 with Allow for methods other than GET/HEAD/OPTIONS; 400 for a bad query or edited cursor.
    """
    try:
        return handle(event, context, SETTINGS, _dynamodb)
    except Exception:  # noqa: BLE001 - the last resort: a JSON 500 with the request id, never a 502
        return last_resort(event, context, SETTINGS.cors_origins, LOGGER)
