"""The counter Lambda: every path except the listing path counts one hit with ONE UpdateItem.

It reads as a sentence: admit the request, resolve the route, follow a download or redirect if it is one,
ask the rules what this hit changes (handler/rules/update.py; with uniqueVisitors, first mark the visitor:
handler/rules/visitors.py), send the one update through the write path (handler/store/writer.py), answer: 200 with
the count (or a counting badge with ``?format=svg``), or 429 when the route's rate limit is reached.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from . import clock
from .rules import parts, schema, update
from .rules.countries import country_attribute
from .rules.buckets import DAY, Days
from .rules.limits import Limit
from .rules.routes import RouteError
from .rules.settings import Settings
from .store.outcomes import ConditionFailed, DynamoFailure, Replayed
from .store.spread import MAX_MOVES, Spread
from .store.writer import call_once_retry_safe
from .web import events, metrics
from .web.responses import Answered, admit, error_response, json_response, last_resort, method_not_allowed, response

SETTINGS = Settings.from_env(os.environ)  # fail fast at init on a bad environment
LOGGER = logging.getLogger("route_counter.counter")
ALLOWED_METHODS = schema.KNOWN_METHODS
LINK_METHODS = ("GET", "HEAD")
COUNTRY_HEADER = "cloudfront-viewer-country"  # set by API Gateway's edge network (endpointType EDGE)
# Let browser scripts read the rate-limit answers (CORS hides other response headers from them).
EXPOSE = {"Access-Control-Expose-Headers": "RateLimit, RateLimit-Policy, Retry-After"}

def create_writer(kind: str) -> Any:
    """The writer seam's chooser, here where the seam is used (neither writer imports the other): the
    counter's store client, ``lean`` (standard library, no botocore at cold start) or ``botocore``
    (the runtime's botocore, one attempt per call). Both answer ``update_item(**request)``."""
    if kind == "botocore":
        from .store.dynamo import create_client

        return create_client(retries=False)
    from .store.lean import LeanDynamoDB

    return LeanDynamoDB.from_env()


_client = None
SPREAD = Spread(SETTINGS.own_part)  # this container's view of which routes are hot (handler/store/spread.py)


def _dynamodb() -> Any:
    """The writer (stack config ``writer``: lean or botocore), created once per container on first use (so
    tests can patch first), and its connection kept alive across invocations."""
    global _client
    if _client is None:
        _client = create_writer(SETTINGS.writer)
    return _client


class RateLimited(Exception):
    """The route's window is full: the hit was not counted (its conditional update wrote nothing)."""

    def __init__(self, limit: Limit, t: float, days: Days) -> None:
        super().__init__(limit.pattern)
        self.limit, self.t, self.days = limit, t, days


def count_hit(client: Any, table: str, hit: update.Hit, spread: Spread | None = None, claim: str | None = None) -> update.Applied:
    """Send the hit's one update (to the route's head, or to a hot part: handler/store/spread.py), as one
    transaction with its Idempotency-Key's claim when it has one; then, rarely, one cleanup of what a long
    idle gap left behind. Raises DynamoFailure, RateLimited when the route's window is full, or Replayed.
    A rate-limited route stays in its head: its window is one exact counter."""
    spread = SPREAD if spread is None else spread
    if hit.limit or not spread.can_spread(hit.route):
        return _recorded(client, table, claim, *_written(client, table, hit, spread.head(hit.route), claim=claim)[1:])
    key = spread.first_key(hit.route)
    expires = int(hit.t) + hit.expiry_days * DAY if hit.expiry_days and not hit.bot else None
    for strike in range(1, MAX_MOVES + 1):
        try:
            # A hot part never expires on its own: its head's date (moved by the spread) speaks for the route.
            at = hit if key == spread.head(hit.route) else hit._replace(expiry_days=0)
            item, outcome = _written(client, table, at, key, move=True, claim=claim)
        except DynamoFailure as failure:
            if failure.code != "throttled" or strike == MAX_MOVES:
                raise
            key = spread.moved(client, table, hit.route, key, strike, hit.t, expires)
            continue
        total = spread.total(client, table, hit.route, key, item, hit.t, expires)
        return _recorded(client, table, claim, outcome._replace(total=total))
    raise AssertionError("unreachable")  # the last strike re-raises


def _written(client: Any, table: str, hit: update.Hit, key: str, move: bool = False,
             claim: str | None = None) -> tuple[dict[str, Any], update.Applied]:
    """One update of ``key`` (re-sent while certainly not applied; with ``move``, a throttled one raises at
    once instead), its ALL_NEW item and what it says; and the cleanup of what it found expired. With a
    ``claim``, the update and the claim go as one transaction, and the item is read after it."""
    request = update.hit_request(table, hit, key)
    try:
        if claim is None:
            item = call_once_retry_safe(lambda: client.update_item(**request), throttled_at_once=move)["Attributes"]
        else:
            from .store import claims  # only requests with an Idempotency-Key load it

            item = claims.write(client, table, request, claim, hit.t, move)
    except ConditionFailed:
        assert hit.limit is not None  # only a rate-limited hit's update has a condition
        raise RateLimited(hit.limit, hit.t, hit.days) from None
    outcome = update.applied(hit, item)
    if outcome.leftovers:
        cleanup(client, table, key, outcome.leftovers)
    return item, outcome


def _recorded(client: Any, table: str, claim: str | None, outcome: update.Applied) -> update.Applied:
    if claim is not None:
        from .store import claims

        claims.record(client, table, claim, outcome.total)
    return outcome


def cleanup(client: Any, table: str, key: str, names: list[str]) -> None:
    """Remove expired buckets. The hit is already counted, so a failure here is logged, never answered:
    the next hit on the item finds the same leftovers and tries again."""
    request = update.cleanup_request(table, key, names)
    try:
        call_once_retry_safe(lambda: client.update_item(**request))
    except ConditionFailed:
        pass  # the item was deleted (a reset) meanwhile: nothing to clean
    except DynamoFailure as failure:
        LOGGER.warning("cleanup failed", extra={"key": key, "cause": failure.cause})


def _visitors() -> Any:
    """rules/visitors, loaded by the stacks that use it (countBots, uniqueVisitors): the others' cold starts
    never compile it."""
    from .rules import visitors

    return visitors


def _ignored(source_ip: str, settings: Settings) -> bool:
    from .rules import addresses  # only with ignoreIps, as above

    return addresses.ignored(source_ip, settings.ignored)


def new_hit(request: events.Request, route: str, settings: Settings) -> update.Hit:
    """What this hit is, by the rules: when, its rate limit, its viewer country (only where trusted),
    whether a listed crawler sent it."""
    country = country_attribute(request.header(COUNTRY_HEADER)) if settings.count_countries else None
    bot = settings.count_bots and _visitors().is_bot(request.header("user-agent"))
    return update.Hit(route, request.method, clock.now(), settings.limits.match(route), country, bot,
                      expiry_days=settings.expiry_days, days=settings.days)


def mark_visitor(client: Any, settings: Settings, request: events.Request, hit: update.Hit) -> dict[str, Any] | None:
    """uniqueVisitors: the hit's first request, a conditional PutItem of today's marker for this visitor
    and route. Returns the marker when it is new (this is the visitor's first hit today), else None. A
    failure only costs the visitor count, never the hit: logged, and the hit is counted as a repeat."""
    visitors = _visitors()
    item: dict[str, Any] = visitors.marker(settings.visitor_secret, hit.t, request.source_ip, request.header("user-agent") or "",
                           hit.route, hit.days)
    put = visitors.put_marker_request(settings.visitor_table, item)
    try:
        call_once_retry_safe(lambda: client.put_item(**put))
    except ConditionFailed:
        return None  # seen today
    except DynamoFailure as failure:
        LOGGER.warning("visitor marker failed", extra={"requestId": request.request_id, "cause": failure.cause})
        return None
    return item


def unmark_visitor(client: Any, settings: Settings, item: dict[str, Any]) -> None:
    """The hit was not counted after all (429 or 5xx): its marker goes, so the visitor's next hit is new."""
    delete = _visitors().delete_marker_request(settings.visitor_table, item)
    try:
        call_once_retry_safe(lambda: client.delete_item(**delete))
    except (ConditionFailed, DynamoFailure) as exc:
        LOGGER.warning("visitor marker removal failed", extra={"cause": str(exc)})


def counted(
    status: int, request: events.Request, route: str, settings: Settings, client: Callable[[], Any],
    cors: dict[str, str], headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Count the hit and answer ``status`` with ``{"route", "count"}``, or the 429 or 5xx it came to. A hit
    from an ignored address (ignoreIps) is answered the same way with the current count, and writes nothing."""
    if settings.ignored and _ignored(request.source_ip, settings):
        return not_counted(status, request, route, settings, client, cors, headers)
    claim = None
    if request.header("idempotency-key") is not None:
        from .rules import idempotency  # only requests with the header load it

        try:
            claim = idempotency.claim_key(request.method, route, idempotency.parse_key(request.header(idempotency.HEADER) or ""))
        except ValueError as exc:
            return error_response(400, "bad_idempotency_key", str(exc), cors, request.request_id)
    hit = new_hit(request, route, settings)
    marker = None
    if settings.visitor_table and not hit.bot:
        marker = mark_visitor(client(), settings, request, hit)
        hit = hit._replace(new_visitor=marker is not None)
    try:
        outcome = count_hit(client(), settings.table_name, hit, claim=claim)
    except (DynamoFailure, RateLimited, Replayed) as exc:
        if marker is not None and not (isinstance(exc, DynamoFailure) and exc.code in ("outcome_unknown", "count_unread")):
            unmark_visitor(client(), settings, marker)
        if isinstance(exc, RateLimited):
            return rate_limited(exc, request, route, cors)
        if isinstance(exc, Replayed):
            return replayed(exc, status, request, route, settings, client, cors, headers)
        return failed(exc, request, route, cors)
    headers = dict(headers or {})
    if hit.limit and outcome.remaining is not None:
        headers.update({**hit.limit.headers(outcome.remaining, hit.t, hit.days), **EXPOSE})
    return answer(status, request, route, outcome.total, cors, headers)


def replayed(repeat: Replayed, status: int, request: events.Request, route: str, settings: Settings,
             client: Callable[[], Any], cors: dict[str, str], headers: dict[str, str] | None) -> dict[str, Any]:
    """A repeat of a counted request: the first answer's count, marked ``Idempotent-Replayed: true``;
    the count as it stands when the first has not recorded one."""
    marked = {**(headers or {}), "Idempotent-Replayed": "true", "Access-Control-Expose-Headers": "Idempotent-Replayed",
              metrics.NOT_COUNTED: "false"}
    if repeat.count is None:
        return not_counted(status, request, route, settings, client, cors, marked)
    return answer(status, request, route, repeat.count, cors, marked)


def not_counted(
    status: int, request: events.Request, route: str, settings: Settings, client: Callable[[], Any],
    cors: dict[str, str], headers: dict[str, str] | None,
) -> dict[str, Any]:
    """An ignored address: the answer a hit gets, showing the count as it stands (one GetItem), marked
    ``X-Counted: false`` so its owner can see it was skipped (and the metrics line leaves it out)."""
    from .store import queries  # only ignored hits read: kept out of every other cold start

    head = parts.head_key(route, settings.own_part)  # this region's count, as a counted hit here answers
    request_args = queries.count_request(settings.table_name, head)
    try:
        item = call_once_retry_safe(lambda: client().get_item(**request_args)).get("Item", {})
    except DynamoFailure as failure:  # a read: nothing to be unsure about, so never "outcome_unknown"
        return failed(DynamoFailure(503, "storage_unavailable", "the counts store cannot be reached", failure.cause),
                      request, route, cors)
    total = int(item.get(schema.COUNT, {}).get("N", "0"))
    hot = parts.hot_keys(route, settings.own_part, item)
    if hot:  # a hot route: its parts' totals too (one BatchGetItem)
        batch = {"RequestItems": {settings.table_name: {"Keys": [schema.key(k) for k in hot], "ProjectionExpression": "#c",
                                                        "ExpressionAttributeNames": {"#c": schema.COUNT}}}}
        try:
            found = call_once_retry_safe(lambda: client().batch_get_item(**batch))
        except DynamoFailure as failure:
            return failed(DynamoFailure(503, "storage_unavailable", "the counts store cannot be reached", failure.cause),
                          request, route, cors)
        total += sum(int(i.get(schema.COUNT, {}).get("N", "0")) for i in found.get("Responses", {}).get(settings.table_name, []))
    return answer(status, request, route, total, cors, {**(headers or {}), metrics.NOT_COUNTED: "false"})


def answer(status: int, request: events.Request, route: str, total: int, cors: dict[str, str],
           headers: dict[str, str]) -> dict[str, Any]:
    """``{"route", "count"}``, or a counting badge showing the count (``?format=svg``)."""
    if status == 200 and request.query.get("format") == "svg":
        from .web import badge  # only badges need it: kept out of every other cold start

        # Unknown options fall back to the defaults: the hit is counted whatever the badge asks for.
        options = badge.badge_options(request.query, strict=False)
        svg, _ = badge.badge(badge.badge_label(request.query.get("label")), total, options)
        headers = {**headers, "Cache-Control": badge.COUNTING_BADGE_CACHE, **badge.SVG_HEADERS}
        return response(200, svg, cors, "image/svg+xml", headers)
    return json_response(status, {"route": route, "count": total}, cors, headers)


def rate_limited(limited: RateLimited, request: events.Request, route: str, cors: dict[str, str]) -> dict[str, Any]:
    limit, reset = limited.limit, limited.limit.reset(limited.t, limited.days)
    message = f"{route} allows {limit.quota} hit{'' if limit.quota == 1 else 's'} per {limit.window}; try again in {reset} s"
    headers = {"Retry-After": str(reset), **limit.headers(0, limited.t, limited.days), **EXPOSE}
    return error_response(429, "rate_limited", message, cors, request.request_id, headers)


def handle(event: Any, context: Any, settings: Settings, client: Callable[[], Any]) -> dict[str, Any]:
    """Core of the handler with its settings and client factory passed in."""
    try:
        request, cors = admit(event, context, settings.cors_origins, ALLOWED_METHODS, schema.COUNTED_METHODS)
    except Answered as early:
        return early.response
    try:
        route = settings.rules.resolve(request.raw_path())
    except RouteError as exc:
        return error_response(exc.status, exc.code, exc.message, cors, request.request_id)
    except events.BadEvent as exc:
        return error_response(400, "bad_event", str(exc), cors, request.request_id)
    links = settings.links
    if route in links.downloads or route in links.redirects:
        return follow_link(request, route, settings, client, cors)
    return counted(200, request, route, settings, client, cors)


def failed(failure: DynamoFailure, request: events.Request, route: str, cors: dict[str, str]) -> dict[str, Any]:
    LOGGER.error(
        "count failed",
        extra={"requestId": request.request_id, "route": route, "status": failure.status, "cause": failure.cause},
    )
    return error_response(failure.status, failure.code, failure.message, cors, request.request_id, failure.headers)


def follow_link(
    request: events.Request, route: str, settings: Settings, client: Callable[[], Any], cors: dict[str, str]
) -> dict[str, Any]:
    """A download or redirect route: GET counts one hit and answers 302 to its one configured target (a
    presigned URL for a download, the URL itself for a redirect); HEAD answers the same without counting
    (link checkers and previews use it); other methods get 405."""
    if request.method not in LINK_METHODS:
        return method_not_allowed(cors, (*LINK_METHODS, "OPTIONS"), request.method, request.request_id)
    download = settings.links.downloads.get(route)
    # Signing is local: done before the count, so a hit is never counted without its answer.
    if download:
        from .store.downloads import presign  # only a download's GET: other hits never load it

        location = presign(settings.download_bucket, download)
    else:
        location = settings.links.redirects[route]
    headers = {"Location": location, "Cache-Control": "no-store"}
    if request.method == "HEAD":
        return json_response(302, {"route": route}, cors, headers)
    return counted(302, request, route, settings, client, cors, headers)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count one hit on the requested route.

    Event: API Gateway REST API Lambda-proxy event (payload 1.0), from ``ANY /`` or ``ANY /{proxy+}``.
    Response: 200 ``{"route": "/a/b", "count": 42}``; OPTIONS -> 204 preflight (not counted);
    bad input -> 400/404/405/414 JSON error (nothing written); a full rate window -> 429 ``rate_limited``
    with Retry-After and RateLimit fields (not counted); DynamoDB failure -> 5xx JSON error,
    503 with Retry-After when the hit was throttled or its outcome is unknown.
    """
    try:
        answer = handle(event, context, SETTINGS, _dynamodb)
    except Exception:  # noqa: BLE001 - the last resort: a JSON 500 with the request id, never a 502
        return last_resort(event, context, SETTINGS.cors_origins, LOGGER)
    metrics.emit(answer, clock.now())  # one EMF log line: hits, rejections, rate limits, unknown outcomes
    return answer
