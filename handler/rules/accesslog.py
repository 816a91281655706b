"""API Gateway access-log lines, the one place their format lives: what to paste into a stage's access-log
settings, and what a line says (route template, path, method, status, request time, API key). Pure.

REST APIs and HTTP APIs name their variables differently (API Gateway Developer Guide, "$context
variables for access logging"): a REST API has ``$context.resourcePath`` ("/users/{id}") and the API key's
id (``$context.identity.apiKeyId``, with usage plans); an HTTP API has ``$context.routeKey`` ("GET
/users/{id}", or "$default") and no API keys. Both log ``$context.path`` with the stage in front on a
named stage ("/prod/users/7"), percent-encoded as sent, and ``$context.requestTimeEpoch`` in milliseconds.
A variable with no value is logged as "-".
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

_COMMON = ('"requestId":"$context.requestId","requestTime":"$context.requestTimeEpoch",'
           '"httpMethod":"$context.httpMethod","path":"$context.path","stage":"$context.stage","status":"$context.status"')
# The formats to paste into a stage's access-log settings (the stack outputs them: meter_access_log_format).
REST_FORMAT = "{" + _COMMON + ',"resourcePath":"$context.resourcePath","apiKeyId":"$context.identity.apiKeyId"}'
HTTP_FORMAT = "{" + _COMMON + ',"routeKey":"$context.routeKey"}'
FORMATS = {"rest": REST_FORMAT, "http": HTTP_FORMAT}
NONE = "-"  # what API Gateway logs for a variable without a value
CATCH_ALL = "$default"
MAX_METHOD = 16


class LogLine(NamedTuple):
    template: str | None  # the API's route template ("/users/{id}"), None for a catch-all: use path
    path: str  # the request path without the stage, percent-encoded as sent
    method: str
    status_class: str  # "2xx"
    t: float  # the request time, seconds since the epoch
    api_key: str | None  # the API key's id (REST APIs with usage plans), else None


def _value(line: dict[str, Any], name: str) -> str | None:
    value = line.get(name)
    if value is None or value == NONE or value == "":
        return None
    return str(value)


def _is_greedy(template: str) -> bool:
    return "+}" in template


def parse(message: str) -> LogLine | None:
    """What one access-log line says, or None when it is not one of ours (not JSON, or lacking the
    fields): the caller counts it as unparsed and never shows its content."""
    try:
        line = json.loads(message)
    except ValueError:
        return None
    if not isinstance(line, dict):
        return None
    method, raw_path, status, raw_time = (_value(line, n) for n in ("httpMethod", "path", "status", "requestTime"))
    if not (method and raw_path and status and raw_time) or not raw_path.startswith("/"):
        return None
    if not (status.isascii() and status.isdigit() and len(status) == 3 and status[0] in "12345"):
        return None
    if not (raw_time.isascii() and raw_time.isdigit()) or not (method.isascii() and method.isalpha()) or len(method) > MAX_METHOD:
        return None
    stage = _value(line, "stage")
    path = raw_path
    if stage and stage != CATCH_ALL and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        path = path[len(stage) + 1:] or "/"
    template = _value(line, "resourcePath")
    route_key = _value(line, "routeKey")
    if template is None and route_key is not None and route_key != CATCH_ALL:
        template = route_key.partition(" ")[2] or None  # "GET /users/{id}" -> "/users/{id}"
    if template is not None and (not template.startswith("/") or _is_greedy(template)):
        template = None  # a catch-all ("/{proxy+}", "ANY /{proxy+}"): the request path is the route
    return LogLine(template, path, method.upper(), f"{status[0]}xx", int(raw_time) / 1000.0, _value(line, "apiKeyId"))
