"""The counter Lambda: every path except the listing path counts one hit with ONE UpdateItem.

It reads as a sentence: admit the request, resolve the route, follow a download or redirect if it is one,
send the one update through the write path (handler/writer.py), answer."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from handler import events, schema
from handler.downloads import presign
from handler.responses import Answered, admit, error_response, json_response, last_resort, method_not_allowed
from handler.routes import RouteError
from handler.settings import Settings
from handler.writer import DynamoFailure, call_once_retry_safe, create_writer

SETTINGS = Settings.from_env(os.environ)  # fail fast at init on a bad environment
LOGGER = logging.getLogger("route_counter.counter")
ALLOWED_METHODS = schema.KNOWN_METHODS
LINK_METHODS = ("GET", "HEAD")

# The update is the same for every hit but for the key, the method attribute and the time: build it once.
_UPDATE_EXPRESSION = "ADD #count :one, #method :one SET #last = :now, #first = if_not_exists(#first, :now)"
_NAMES = {"#count": schema.COUNT, "#last": schema.LAST_SEEN, "#first": schema.FIRST_SEEN}
_METHOD_NAMES = {m: {**_NAMES, "#method": schema.method_attribute(m)} for m in schema.COUNTED_METHODS}

_client = None


def _dynamodb() -> Any:
    """The writer (stack config ``writer``: lean or botocore), created once per container on first use (so
    tests can patch first), and its connection kept alive across invocations."""
    global _client
    if _client is None:
        _client = create_writer(SETTINGS.writer)
    return _client


def utc_now() -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-24T02:03:04.567Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def update_request(table: str, route: str, method: str, now: str) -> dict[str, Any]:
    """The UpdateItem arguments for one hit: atomic ADD, never read-then-write."""
    return {
        "TableName": table,
        "Key": schema.key(route),
        "UpdateExpression": _UPDATE_EXPRESSION,
        "ExpressionAttributeNames": _METHOD_NAMES[method],
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":now": {"S": now}},
        "ReturnValues": "UPDATED_NEW",
    }


def count_hit(client: Any, table: str, route: str, method: str) -> int:
    """Add one hit and return the route's new total. Raises DynamoFailure."""
    request = update_request(table, route, method, utc_now())
    result = call_once_retry_safe(lambda: client.update_item(**request))
    return int(result["Attributes"][schema.COUNT]["N"])


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
    try:
        count = count_hit(client(), settings.table_name, route, request.method)
    except DynamoFailure as failure:
        return failed(failure, request, route, cors)
    return json_response(200, {"route": route, "count": count}, cors)


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
    location = presign(settings.download_bucket, download) if download else settings.links.redirects[route]
    headers = {"Location": location, "Cache-Control": "no-store"}
    if request.method == "HEAD":
        return json_response(302, {"route": route}, cors, headers)
    try:
        count = count_hit(client(), settings.table_name, route, request.method)
    except DynamoFailure as failure:
        return failed(failure, request, route, cors)
    return json_response(302, {"route": route, "count": count}, cors, headers)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count one hit on the requested route.

    Event: API Gateway REST API Lambda-proxy event (payload 1.0), from ``ANY /`` or ``ANY /{proxy+}``.
    Response: 200 ``{"route": "/a/b", "count": 42}``; OPTIONS -> 204 preflight (not counted);
    bad input -> 400/404/405/414 JSON error (nothing written); DynamoDB failure -> 5xx JSON error,
    503 with Retry-After when the hit was throttled or its outcome is unknown.
    """
    try:
        return handle(event, context, SETTINGS, _dynamodb)
    except Exception:  # noqa: BLE001 - the last resort: a JSON 500 with the request id, never a 502
        return last_resort(event, context, SETTINGS.cors_origins, LOGGER)
