"""API Gateway access-log lines, the one place their format lives: what to paste into a stage's access-log
settings, and what a line says (route template, path, method, status, request time, API key). Pure.

REST APIs and HTTP APIs name their variables differently (API Gateway Developer Guide, "$context
variables for access logging"): a REST API has ``$context.resourcePath`` ("/users/{id}") and the API key's
id (``$context.identity.apiKeyId``, with usage plans); an HTTP API has ``$context.routeKey`` ("GET
/users/{id}", or "$default") and no API keys. Both log ``$context.path`` with the stage in front on a
named stage ("/prod/users/7"), percent-encoded as sent; through a custom domain the base path mapping's
path stands there instead (``$context.customDomain.basePathMatched``), so both are logged and the one
that matched is taken off. ``$context.requestTimeEpoch`` is in milliseconds for REST APIs; for HTTP APIs
the unit is not documented, so seconds and milliseconds are told apart by size. A variable with no value
is logged as "-".

A line is somebody's input: any caller shapes its path, and a log group may hold other lines. So parse
takes nothing on trust: a value that is not a string or a whole number, a string that is not valid
UTF-8 (a lone surrogate from a JSON escape), an API key id that is not one, a time of more than
13 digits, or JSON nested too deep, make the line unparsed; it never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

_COMMON = ('"requestId":"$context.requestId","requestTime":"$context.requestTimeEpoch",'
           '"httpMethod":"$context.httpMethod","path":"$context.path","stage":"$context.stage","status":"$context.status",'
           '"basePath":"$context.customDomain.basePathMatched"')
# The formats to paste into a stage's access-log settings (the stack outputs them: meter_access_log_format).
REST_FORMAT = "{" + _COMMON + ',"resourcePath":"$context.resourcePath","apiKeyId":"$context.identity.apiKeyId"}'
HTTP_FORMAT = "{" + _COMMON + ',"routeKey":"$context.routeKey"}'
FORMATS = {"rest": REST_FORMAT, "http": HTTP_FORMAT}
NONE = "-"  # what API Gateway logs for a variable without a value
CATCH_ALL = "$default"
MAX_METHOD = 16
# API Gateway's key ids are short alphanumeric strings; anything else did not come from API Gateway.
_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,128}$")
_EPOCH = re.compile(r"^[0-9]{9,13}$")  # seconds (9-11 digits) or milliseconds (12-13) since 1970, nothing else
MILLIS_FROM = 10**11  # an epoch value at or above this is milliseconds (as seconds it would be past year 5000)


class _NotALine(ValueError):
    """A value no access-log line of ours can hold."""


class LogLine(NamedTuple):
    template: str | None  # the API's route template ("/users/{id}"), None for a catch-all: use path
    path: str  # the request path without the stage, percent-encoded as sent
    method: str
    status_class: str  # "2xx"
    t: float  # the request time, seconds since the epoch
    api_key: str | None  # the API key's id (REST APIs with usage plans), else None


def _value(line: dict[str, Any], name: str) -> str | None:
    """A field as text, None when absent or "-"; _NotALine when it is something no format of ours logs."""
    value = line.get(name)
    if value is None or value == NONE or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _NotALine(f"{name} is not text or a whole number")
    try:
        value.encode("utf-8")  # a lone surrogate ("\\ud800") decodes from JSON but can never be stored
    except UnicodeEncodeError:
        raise _NotALine(f"{name} is not valid UTF-8 text") from None
    return value


def epoch_seconds(raw: str) -> float | None:
    """``$context.requestTimeEpoch`` as seconds, whether it was logged in seconds or milliseconds."""
    if not _EPOCH.fullmatch(raw):
        return None
    value = int(raw)
    return value / 1000.0 if value >= MILLIS_FROM else float(value)


def _is_greedy(template: str) -> bool:
    return "+}" in template


def parse(message: str) -> LogLine | None:
    """What one access-log line says, or None when it is not one of ours (not JSON, or lacking the
    fields, or holding what no line of ours holds): the caller counts it as unparsed and never shows its
    content (``why`` says what was wrong)."""
    try:
        return _read(message)
    except _NotALine:
        return None


def why(message: str) -> str:
    """Why parse refused a line, in words that never quote it (for the CLI's report); "" when it parses."""
    try:
        _read(message)
    except _NotALine as exc:
        return str(exc)
    return ""


def _read(message: str) -> LogLine:
    try:
        line = json.loads(message)
    except RecursionError:
        raise _NotALine("JSON nested too deep") from None
    except ValueError:
        raise _NotALine("not JSON") from None
    if not isinstance(line, dict):
        raise _NotALine("not a JSON object")
    method, raw_path, status, raw_time = (_value(line, n) for n in ("httpMethod", "path", "status", "requestTime"))
    missing = [n for n, v in zip(("httpMethod", "path", "status", "requestTime"), (method, raw_path, status, raw_time),
                                 strict=True) if not v]
    if missing:
        raise _NotALine(f"no {', '.join(missing)} (not a metering format: see meter_access_log_format)")
    assert method and raw_path and status and raw_time
    if not raw_path.startswith("/"):
        raise _NotALine("path does not start with /")
    if not (status.isascii() and status.isdigit() and len(status) == 3 and status[0] in "12345"):
        raise _NotALine("status is not an HTTP status")
    t = epoch_seconds(raw_time)
    if t is None:
        raise _NotALine("requestTime is not epoch seconds or milliseconds")
    if not (method.isascii() and method.isalpha()) or len(method) > MAX_METHOD:
        raise _NotALine("httpMethod is not a method")
    api_key = _value(line, "apiKeyId")
    if api_key is not None and not _KEY_ID.fullmatch(api_key):
        raise _NotALine("apiKeyId is not an API key id")
    base_path, stage = _value(line, "basePath"), _value(line, "stage")
    if base_path is not None:  # through a custom domain: its mapping's path stands first, never the stage
        path = strip_prefix(raw_path, base_path) or raw_path
    else:
        path = strip_prefix(raw_path, stage if stage != CATCH_ALL else None) or raw_path
    template = _value(line, "resourcePath")
    route_key = _value(line, "routeKey")
    if template is None and route_key is not None and route_key != CATCH_ALL:
        template = route_key.partition(" ")[2] or None  # "GET /users/{id}" -> "/users/{id}"
    if template is not None and (not template.startswith("/") or _is_greedy(template)):
        template = None  # a catch-all ("/{proxy+}", "ANY /{proxy+}"): the request path is the route
    return LogLine(template, path, method.upper(), f"{status[0]}xx", t, api_key)


def strip_prefix(path: str, segment: str | None) -> str | None:
    """``path`` without a leading ``/segment`` (the stage, or a custom domain's base path), only at a "/"
    boundary (``/prodx/a`` keeps its ``prodx``); None when it does not start with it."""
    if not segment or segment == "(none)":
        return None
    segment = segment.strip("/")
    if path == f"/{segment}" or path.startswith(f"/{segment}/"):
        return path[len(segment) + 1:] or "/"
    return None
