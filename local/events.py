"""HTTP request -> API Gateway REST API Lambda-proxy event (payload format 1.0), as AWS builds it.

Used by the local server and by the tests, so the handlers always see the event shape they get on AWS:
the path and ``pathParameters.proxy`` stay percent-encoded, query values are decoded, ``headers`` holds
the last value of each header and ``multiValueHeaders`` all of them.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import parse_qsl

from route_counter.handler.web.events import match

COUNTER, LISTING = "counter", "listing"
LOCAL_ACCOUNT = "123456789012"
LOCAL_API_ID = "local"


@dataclass(frozen=True)
class Route:
    """Which API Gateway resource a path hits, its path parameters and the function behind it."""

    resource: str
    path_params: dict[str, str] | None
    function: str


def route_for(path: str, counts_path: str, guarded: bool = False) -> Route:
    """Match a raw path against the API's resource tree (handler.web.events.match): with a guarded
    listing, ``/_counts/badge`` and ``/_counts/dashboard`` are resources of their own, without path
    parameters, exactly as API Gateway sends them."""
    resource, params = match(path, counts_path, guarded)
    listing = resource == f"/{counts_path}" or resource.startswith(f"/{counts_path}/")
    return Route(resource, params, LISTING if listing else COUNTER)


def _single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return (single or None), (multi or None)


def build_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    counts_path: str = "_counts",
    guarded: bool = False,
    stage: str = "local",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> tuple[dict[str, Any], str]:
    """The proxy event for one request and the function ("counter" or "listing") it goes to; ``guarded``:
    the listing is guarded (countsAccess apiKey or iam), so its public resources exist."""
    path, _, query = target.partition("?")
    path = path or "/"
    route = route_for(path, counts_path, guarded)
    header_pairs = list(headers)
    single_headers, multi_headers = _single_and_multi(header_pairs)
    single_query, multi_query = _single_and_multi(parse_qsl(query, keep_blank_values=True))
    request_id = request_id or str(uuid.uuid4())
    now = time.time()
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    user_agent = next((v for k, v in header_pairs if k.lower() == "user-agent"), None)
    event = {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": route.path_params,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": LOCAL_ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "domainName": "localhost",
            "apiId": LOCAL_API_ID,
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }
    return event, route.function
