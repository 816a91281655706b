"""The alarms, as data: each is a rate with a minimum volume, so one deliberate 503 never pages anyone.

Each alarm is CloudWatch metric math over two metrics: ``IF(volume >= MIN, 100 * bad / volume, 0)``,
compared with a percentage, over 5-minute periods, firing when 2 of the last 3 breach.
docs/operations.md says what each means and what to do; keep the two in step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

PERIOD = 300  # seconds
EVALUATION_PERIODS = 3
DATAPOINTS_TO_ALARM = 2
MIN_VOLUME = 20  # requests in a period before a rate means anything


class Metric(NamedTuple):
    namespace: str
    name: str
    stat: str = "Sum"


class AlarmSpec(NamedTuple):
    label: str  # logical name suffix
    description: str
    bad: Metric
    volume: Metric
    threshold: float  # percent
    # The denominator is ``volume`` alone, or ``volume + bad`` where the bad ones are not part of volume
    # (throttled invocations and throttled requests are not counted as invocations / successful requests).
    bad_outside_volume: bool = False

    def expression(self) -> str:
        total = "(volume + bad)" if self.bad_outside_volume else "volume"
        return f"IF({total} >= {MIN_VOLUME}, 100 * bad / {total}, 0)"


API, LAMBDA, DYNAMODB = "AWS/ApiGateway", "AWS/Lambda", "AWS/DynamoDB"

# Which resource each alarm watches is decided by the component (the dimensions); these are the rules.
SPECS = {
    "api": AlarmSpec(
        "api-5xx-rate", "More than 5 % of API requests answered 5XX (at least 20 requests in 5 minutes)",
        Metric(API, "5XXError"), Metric(API, "Count"), 5.0,
    ),
    "counter": AlarmSpec(
        "counter-error-rate", "More than 2 % of counter invocations failed (crash or timeout)",
        Metric(LAMBDA, "Errors"), Metric(LAMBDA, "Invocations"), 2.0,
    ),
    "throttles": AlarmSpec(
        "counter-throttle-rate", "More than 5 % of counter invocations throttled by Lambda concurrency",
        Metric(LAMBDA, "Throttles"), Metric(LAMBDA, "Invocations"), 5.0, bad_outside_volume=True,
    ),
    "table": AlarmSpec(
        "table-throttle-rate", "More than 1 % of the counter's UpdateItem requests throttled by DynamoDB",
        Metric(DYNAMODB, "ThrottledRequests"), Metric(DYNAMODB, "SuccessfulRequestLatency", "SampleCount"), 1.0,
        bad_outside_volume=True,
    ),
}


def metric_queries(spec: AlarmSpec, dimensions: dict[str, Any]) -> list[dict[str, Any]]:
    """The alarm's metric queries (MetricAlarm ``metric_queries``): two metrics and the expression."""
    def query(query_id: str, metric: Metric) -> dict[str, Any]:
        return {
            "id": query_id,
            "return_data": False,
            "metric": {"namespace": metric.namespace, "metric_name": metric.name, "stat": metric.stat,
                       "period": PERIOD, "dimensions": dimensions},
        }

    return [
        query("bad", spec.bad),
        query("volume", spec.volume),
        {"id": "rate", "expression": spec.expression(), "label": f"{spec.label} (%)", "return_data": True},
    ]


# Traffic alerts (trafficAlarm, trafficAnomaly) watch the counter's own Hits metric (handler/web/metrics.py),
# summed per 5 minutes: a spike is news, not a fault, so these are opt-in and go to the same topic.
TRAFFIC_EVALUATION_PERIODS, TRAFFIC_DATAPOINTS = 3, 2  # the anomaly alarm: 2 of the last 3 periods
ANOMALY_BAND_WIDTH = 2  # standard deviations of the band CloudWatch's model expects hits within


def hits_metric(namespace: str, metric: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    return {"namespace": namespace, "metric_name": metric, "stat": "Sum", "period": PERIOD, "dimensions": dimensions}


def anomaly_queries(namespace: str, metric: str, dimensions: dict[str, Any]) -> list[dict[str, Any]]:
    """An anomaly-detection alarm's queries: the metric and its expected band (CloudWatch wants both
    returned, and the alarm's threshold_metric_id naming the band)."""
    return [
        {"id": "hits", "return_data": True, "metric": hits_metric(namespace, metric, dimensions)},
        {"id": "band", "expression": f"ANOMALY_DETECTION_BAND(hits, {ANOMALY_BAND_WIDTH})",
         "label": "expected hits", "return_data": True},
    ]
