"""Building Lambda-proxy responses: one JSON builder, CORS headers from one place, errors as JSON."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ..web import events
from ..rules.settings import ANY_ORIGIN

JSON_TYPE = "application/json"
PREFLIGHT_MAX_AGE = "86400"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # on every answer: a body is only ever its declared type
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


def vary(headers: Mapping[str, str], name: str) -> dict[str, str]:
    """``headers`` with ``name`` added to Vary (caches must key the answer on that request header too)."""
    present = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    return {**headers, "Vary": ", ".join([*present, name] if name not in present else present)}


def cors_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """``*`` when any origin is allowed; otherwise echo an allowed Origin, and always say it varies by Origin."""
    if ANY_ORIGIN in allowed:
        return {"Access-Control-Allow-Origin": ANY_ORIGIN}
    headers = {"Vary": "Origin"}
    if origin and origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def response(
    status: int,
    body: str,
    cors: Mapping[str, str],
    content_type: str = JSON_TYPE,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy response (payload 1.0)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": "no-store", **NOSNIFF, **cors, **(headers or {})},
        "body": body,
        "isBase64Encoded": False,
    }


def json_response(
    status: int, payload: Any, cors: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A JSON body response; compact separators keep bodies small."""
    return response(status, json.dumps(payload, separators=(",", ":"), ensure_ascii=False), cors, headers=headers)


def error_response(
    status: int,
    code: str,
    message: str,
    cors: Mapping[str, str],
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"error": code, "message": ..., "requestId": ...}``: never a stack trace or internals."""
    payload = {"error": code, "message": message}
    if request_id:
        payload["requestId"] = request_id
    return json_response(status, payload, cors, headers)


def last_resort(event: Any, context: Any, origins: tuple[str, ...], logger: Any) -> dict[str, Any]:
    """What a handler answers when it raised anyway: logged with its traceback, a JSON 500 with the request
    id (never Lambda's error, which API Gateway turns into a bare 502). Reads the event defensively."""
    request_id = str(getattr(context, "aws_request_id", "") or "")
    origin = None
    if isinstance(event, dict):
        context_part, headers = event.get("requestContext"), event.get("headers")
        if isinstance(context_part, dict) and isinstance(context_part.get("requestId"), str):
            request_id = context_part["requestId"]
        if isinstance(headers, dict):
            found = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == "origin"), None)
            origin = found if isinstance(found, str) else None
    logger.exception("unhandled error", extra={"requestId": request_id})
    return error_response(
        500, "internal_error", "the request could not be handled", cors_headers(origin, origins), request_id
    )


def preflight(cors: Mapping[str, str], methods: tuple[str, ...], request_headers: str | None) -> dict[str, Any]:
    """204 answer to a CORS preflight; it is never counted."""
    headers = {
        "Access-Control-Allow-Methods": ", ".join(methods),
        # Echo the requested header names only when they are a plain token list.
        "Access-Control-Allow-Headers": request_headers
        if request_headers and len(request_headers) <= 1024 and _HEADER_LIST.fullmatch(request_headers)
        else "Content-Type",
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        "Allow": ", ".join(methods),
    }
    return {"statusCode": 204, "headers": {**NOSNIFF, **cors, **headers}, "body": "", "isBase64Encoded": False}


def method_not_allowed(cors: Mapping[str, str], methods: tuple[str, ...], method: str, request_id: str | None) -> dict[str, Any]:
    """405 with the Allow header listing what the endpoint takes."""
    return error_response(
        405, "method_not_allowed", f"{method} is not allowed here", cors, request_id, {"Allow": ", ".join(methods)}
    )


class Answered(Exception):
    """The request was answered before any storage was touched; ``response`` is the answer."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(response["statusCode"])
        self.response = response


def admit(
    event: Any, context: Any, origins: tuple[str, ...], allowed: tuple[str, ...], accepted: tuple[str, ...]
) -> tuple[events.Request, dict[str, str]]:
    """The request and its CORS headers; raises Answered for a bad event (400), a preflight (204) or a
    method outside ``accepted`` (405 with ``allowed``). Shared by both handlers."""
    try:
        request = events.parse(event, context)
    except events.BadEvent as exc:
        raise Answered(error_response(400, "bad_event", str(exc), cors_headers(None, origins))) from None
    cors = cors_headers(request.header("origin"), origins)
    if request.method == "OPTIONS":
        raise Answered(preflight(cors, allowed, request.header("access-control-request-headers")))
    if request.method not in accepted:
        raise Answered(method_not_allowed(cors, allowed, request.method, request.request_id))
    return request, cors
