"""The CloudWatch dashboard, as data: built from the resources' names, serialised by the component.

Every widget names a metric in a namespace with the dimensions AWS publishes it under
(``METRIC_DIMENSIONS``; tests/test_infra.py checks each widget against it and against the deployed
names), so no widget is an empty graph.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from route_counter.handler.web import metrics as own
from route_counter.infra.alarms import API, DYNAMODB, LAMBDA

PERIOD = 300
# (namespace, metric) -> the dimension sets AWS publishes it with (CloudWatch user guide, "API Gateway
# metrics", "Lambda function metrics", "DynamoDB metrics and dimensions"; ours from handler/web/metrics.py).
METRIC_DIMENSIONS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    **{(API, m): (("ApiName",), ("ApiName", "Stage"), ("ApiName", "Method", "Resource", "Stage"))
       for m in ("Count", "Latency", "IntegrationLatency", "4XXError", "5XXError")},
    **{(LAMBDA, m): (("FunctionName",), ("FunctionName", "Resource"))
       for m in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions")},
    **{(DYNAMODB, m): (("TableName",),) for m in ("ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits",
                                                   "WriteThrottleEvents", "ReadThrottleEvents")},
    (DYNAMODB, "ThrottledRequests"): (("TableName", "Operation"),),
    **{(own.NAMESPACE, m): ((own.DIMENSION,),) for m in own.METRICS},
    (own.NAMESPACE, own.REJECTED): ((own.DIMENSION,), (own.DIMENSION, own.REASON)),
}


class Names(NamedTuple):
    region: str
    api: str
    stage: str
    counter: str
    listing: str
    table: str


def _metric(namespace: str, name: str, dimensions: dict[str, str], stat: str = "Sum", label: str = "") -> list[Any]:
    flat: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        flat += [key, value]
    return flat + [{"stat": stat, **({"label": label} if label else {})}]


def _widget(title: str, metrics: list[list[Any]], region: str, x: int, y: int, width: int = 8) -> dict[str, Any]:
    return {
        "type": "metric", "x": x, "y": y, "width": width, "height": 6,
        "properties": {"title": title, "metrics": metrics, "view": "timeSeries", "stacked": False,
                       "region": region, "period": PERIOD},
    }


def body(n: Names) -> dict[str, Any]:
    """The dashboard body: the API, both functions, the table, and the counter's own metrics."""
    api = {"ApiName": n.api, "Stage": n.stage}
    fns = {"counter": {"FunctionName": n.counter}, "listing": {"FunctionName": n.listing}}
    table = {"TableName": n.table}
    rows: list[tuple[str, list[list[Any]]]] = [
        ("API requests", [_metric(API, "Count", api)]),
        ("API latency (ms)", [_metric(API, "Latency", api, "p50", "p50"), _metric(API, "Latency", api, "p99", "p99")]),
        ("API 4XX and 5XX", [_metric(API, "4XXError", api), _metric(API, "5XXError", api)]),
        ("Invocations", [_metric(LAMBDA, "Invocations", d, label=k) for k, d in fns.items()]),
        ("Duration p99 (ms)", [_metric(LAMBDA, "Duration", d, "p99", k) for k, d in fns.items()]),
        ("Errors and throttles", [_metric(LAMBDA, m, d, label=f"{k} {m.lower()}")
                                  for k, d in fns.items() for m in ("Errors", "Throttles")]),
        ("Concurrency (max)", [_metric(LAMBDA, "ConcurrentExecutions", d, "Maximum", k) for k, d in fns.items()]),
        ("Table write units", [_metric(DYNAMODB, "ConsumedWriteCapacityUnits", table),
                               _metric(DYNAMODB, "ConsumedReadCapacityUnits", table)]),
        ("Table throttled requests", [_metric(DYNAMODB, "ThrottledRequests", {**table, "Operation": op}, label=op)
                                      for op in ("UpdateItem", "Scan", "GetItem")]),
        ("Counted hits", [_metric(own.NAMESPACE, own.HITS, {own.DIMENSION: n.counter})]),
        ("Not counted: rejected, rate-limited, outcome unknown",
         [_metric(own.NAMESPACE, m, {own.DIMENSION: n.counter}) for m in (own.REJECTED, own.RATE_LIMITED, own.OUTCOME_UNKNOWN)]),
    ]
    widgets = [_widget(title, m, n.region, 8 * (i % 3), 6 * (i // 3)) for i, (title, m) in enumerate(rows)]
    return {"widgets": widgets}
