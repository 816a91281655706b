"""Metering test helpers: the metered API's lines as API Gateway logs them, a delivery, what it stored.
The `metering` fixture (a metering stack's settings on moto) lives in conftest.py."""

from __future__ import annotations

import itertools
import json

from route_counter.handler import meter
from route_counter.handler.rules.settings import Settings
from route_counter.handler.store.queries import View, get_route, usage_month
from route_counter.handler.web import logs
from tests.conftest import METER, START, TABLE

GROUP = "/aws/apigateway/shop-prod"
HOUR = 3600
_REQUESTS = itertools.count()  # API Gateway's requestId: one per request, so every line made here is its own


def rest_line(path: str, resource: str = "/{proxy+}", method: str = "GET", status: int = 200, t: float = START,
              key: str = "-", stage: str = "prod", request_id: str | None = None) -> str:
    return json.dumps({"requestId": request_id or f"r{next(_REQUESTS)}", "requestTime": str(int(t * 1000)), "httpMethod": method,
                       "path": f"/{stage}{path}", "stage": stage, "status": str(status), "resourcePath": resource,
                       "apiKeyId": key})


def http_line(path: str, route_key: str, method: str = "GET", status: int = 200, t: float = START) -> str:
    return json.dumps({"requestId": f"r{next(_REQUESTS)}", "requestTime": str(int(t * 1000)), "httpMethod": method,
                       "path": path,
                       "stage": "$default", "status": str(status), "routeKey": route_key})


def deliver(settings: Settings, client, events: list[tuple[str, str]], stream: str = "s1") -> dict:
    return meter.handle(logs.encode(GROUP, stream, [(i, m, 0) for i, m in events]), settings, client)


def totals(client) -> dict[str, dict]:
    """Every metered route's record (series included), as the listing shows it."""
    items = client.scan(TableName=TABLE)["Items"]
    return {i["route"]["S"]: get_route(client, TABLE, i["route"]["S"], View(START)) for i in items}


def usage(client) -> dict:
    return usage_month(client, METER, "2026-11", START)
