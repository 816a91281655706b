"""Metering numbers for `make bench`: DynamoDB requests per 1,000 metered requests, writes per second on a
hot route, CPU per 1,000 lines, and the cost per million metered requests with its arithmetic."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

GROUP = "/aws/apigateway/bench"
START = 1795498200.0  # 2026-11-24T05:30Z
# Prices (us-east-1, on demand): CloudWatch Logs ingestion per GB, Lambda per request and per GB-second
# (arm64), DynamoDB per million write and read request units. A transactional write is 2 WRU per KB.
LOGS_PER_GB, LAMBDA_PER_REQUEST, LAMBDA_PER_GB_S = 0.50, 0.20 / 1e6, 0.0000133334
WRU, RRU = 0.625 / 1e6, 0.125 / 1e6
EVENT_OVERHEAD = 26  # bytes CloudWatch Logs adds to each event for billing (its pricing page)
LINES_PER_DELIVERY = 1000  # an assumption for the Lambda share: busy APIs see more, quiet ones fewer
MEMORY_GB = 0.25
# The metering function's own log per delivery: Lambda's platform.start and platform.report records
# (systemLogLevel INFO, JSON; the README's counted-hit row measures them at ~0.6 KB) plus its EMF line.
PLATFORM_LOG_BYTES = 600
# Billed duration per delivery: the transactions' round trips (assumed 0.2 s), plus parsing, which
# `make bench` measures (CPU per 1,000 lines, a few ms: 0.1 ms a line is taken, above what it measures).
DELIVERY_SECONDS, LINE_SECONDS = 0.2, 0.0001
MAX_CHUNK = 99  # handler/store/meter.py: updates per transaction, besides the chunk's marker
# Two traffic shapes for the cost per million metered requests: a quiet API (a few lines, one route, in each
# delivery) and a busy one (1,000 lines over 50 routes).
SHAPES = {"quiet": (3, 1), "busy": (1000, 50)}


def line(route: str, i: int, t: float, key: str = "-") -> str:
    """A REST access-log line as a real stage writes it with the stack's format."""
    return json.dumps({"requestId": f"{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6", "requestTime": str(int(t * 1000)),
                       "httpMethod": "GET", "path": f"/prod{route.replace('{id}', str(1000 + i % 9000))}", "stage": "prod",
                       "status": "200", "resourcePath": route, "apiKeyId": key}, separators=(",", ":"))


def _requests(routes: int, n: int = 1000) -> tuple[Counter[str], int, int]:
    """Send one delivery of n lines over ``routes`` routes through the metering function (moto); the
    requests it made, and the transaction items and items read."""
    from moto import mock_aws

    with mock_aws():
        from route_counter.handler import meter
        from route_counter.handler.rules import meter_schema, schema
        from route_counter.handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
        from route_counter.handler.store.dynamo import create_client
        from route_counter.handler.web import logs

        client = create_client(retries=True)
        table = os.environ.get("TABLE_NAME") or "route-counts-bench"
        client.create_table(**schema.create_table_kwargs(table))
        client.create_table(**meter_schema.meter_table_kwargs("bench-meter"))
        settings = Settings.from_env({**os.environ, "TABLE_NAME": table, METER_TABLE: "bench-meter",
                                      METER_SOURCES: f"bench={GROUP}"}, METER_VARIABLES)
        sent: Counter[str] = Counter()
        items = {"written": 0, "read": 0}

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            sent[model.name] += 1
            if model.name == "TransactWriteItems":
                items["written"] += len(params["TransactItems"])
            if model.name == "BatchGetItem":
                items["read"] += sum(len(v["Keys"]) for v in params["RequestItems"].values())

        client.meta.events.register("provide-client-params.dynamodb", record)
        events = [(f"e{i}", line(f"/r{i % routes}/{{id}}", i, START), 0) for i in range(n)]
        meter.handle(logs.encode(GROUP, "s1", events), settings, lambda: client)
        return sent, items["written"], items["read"]


def hot_route(rate: int = 10_000, seconds: int = 10, streams: int = 4) -> dict[str, float]:
    """A hot route at ``rate`` requests a second: API Gateway writes its access log to several streams,
    and CloudWatch Logs delivers each stream's new lines about once a second. Pure (no store): the updates
    on the hot item per second, and the CPU per 1,000 lines parsed and aggregated."""
    from route_counter.handler.rules import buckets
    from route_counter.handler.rules.aggregate import aggregate
    from route_counter.handler.rules.routes import RouteRules

    updates = 0
    cpu = 0.0
    for second in range(seconds):
        for stream in range(streams):
            batch = [(f"{second}-{stream}-{i}", line("/orders/{id}", i, START + second))
                     for i in range(rate // streams)]
            start = time.process_time()
            found = aggregate(batch, "shop", RouteRules(), buckets.UTC, START + seconds)
            cpu += time.process_time() - start
            updates += len(found.routes)  # one update per route per delivery
    return {"writes_per_second": updates / seconds, "cpu_per_thousand": cpu / (rate * seconds / 1000)}


def own_log_bytes() -> int:
    """The bytes the metering function logs per delivery: the platform records and its metrics line as
    Lambda's JSON log format writes it."""
    from route_counter.handler.web import metrics

    record = {"timestamp": "2026-11-24T05:30:00.123Z", "level": "INFO", "message": "metrics",
              "logger": "route_counter.meter", "requestId": "8f5e0c3a-6b1d-4e2f-9a7c-0d1e2f3a4b5c",
              **metrics.meter_document({}, START, "route-counter-meter-1a2b3c4")}
    return len(json.dumps(record, separators=(",", ":"))) + PLATFORM_LOG_BYTES


def delivery_cost(lines: int, routes: int, keyed: int = 0) -> dict[str, float]:
    """What one delivery of ``lines`` access-log lines over ``routes`` routes (``keyed``: distinct API key
    and route pairs among them) costs, in USD, by the formula docs/metering.md states:
    logs = (lines x (line + 26 B) + own log) x $0.50/GB; Lambda = $0.20/M + duration x 0.25 GB x price;
    DynamoDB = (routes + keyed + chunks) x 2 WRU + routes x 0.5 RRU, chunks = ceil((routes + keyed) / 99)."""
    line_bytes = len(line("/orders/{id}", 12345, START)) + EVENT_OVERHEAD
    updates = routes + keyed
    chunks = max(1, -(-updates // MAX_CHUNK))
    return {"logs": (lines * line_bytes + own_log_bytes()) / 1e9 * LOGS_PER_GB,
            "lambda": LAMBDA_PER_REQUEST + (DELIVERY_SECONDS + lines * LINE_SECONDS) * MEMORY_GB * LAMBDA_PER_GB_S,
            "dynamodb": (updates + chunks) * 2 * WRU + routes * 0.5 * RRU}


def per_million(shape: str) -> dict[str, float]:
    """The cost per million metered requests for one of SHAPES, by part and in all."""
    lines, routes = SHAPES[shape]
    parts = {k: v * 1e6 / lines for k, v in delivery_cost(lines, routes).items()}
    return {**parts, "total": sum(parts.values())}


def numbers() -> dict[str, Any]:
    one, written_one, _ = _requests(1)
    many, written_many, read_many = _requests(50)
    hot = hot_route()
    line_bytes = len(line("/orders/{id}", 12345, START)) + EVENT_OVERHEAD
    costs = {
        "logs": 1e6 * line_bytes / 1e9 * LOGS_PER_GB,
        "lambda": 1e6 / LINES_PER_DELIVERY * (LAMBDA_PER_REQUEST + 0.2 * MEMORY_GB * LAMBDA_PER_GB_S)
        + 1e6 * hot["cpu_per_thousand"] / 1000 * MEMORY_GB * LAMBDA_PER_GB_S,
        # 50 routes a delivery: each transaction item (route update or marker) 2 WRU, each item read 0.5 RRU
        "dynamodb": 1e6 / LINES_PER_DELIVERY * (written_many * 2 * WRU + read_many * 0.5 * RRU),
    }
    # The formula's DynamoDB items against what the function sent for a 50-route delivery (moto).
    assert written_many == 50 + 1 and read_many == 50, (written_many, read_many)
    return {"one_route": sum(one.values()), "fifty_routes": sum(many.values()), "sent": dict(many),
            "shapes": {shape: per_million(shape) for shape in SHAPES}, "own_log_bytes": own_log_bytes(),
            "hot": hot, "line_bytes": line_bytes, "per_million": costs,
            "total": sum(costs.values()), "written": written_many, "read": read_many}
