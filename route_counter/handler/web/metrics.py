"""The counter's own metrics, as CloudWatch Embedded Metric Format in one log line per invocation. Pure
but for ``emit``: no API call, no extra request; CloudWatch Logs turns the line into metrics.

Why through ``logging`` and not ``print``: the functions log in Lambda's JSON format, whose Python runtime
formatter writes a record's ``extra`` fields at the top level of the JSON line (awslambdaric,
``lambda_runtime_log_utils.JsonFormatter``), which is where EMF wants ``_aws`` and the values; and the
line carries level INFO, which the program sets as the application log level, so Lambda's log-level
filter passes it (a printed line would be INFO too, but without the request id).

Metrics (namespace ``RouteCounter``, dimension ``FunctionName``): ``Hits`` (counted), ``RateLimited`` (429),
``OutcomeUnknown`` (a 503 after which the hit may or may not be counted), ``Rejected`` (bad input, never
counted), also by ``Reason`` (the error code). Preflights and HEADs on links emit nothing. Few metrics, on
purpose: each one billed is $0.30 a month, so no per-route dimension.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

NAMESPACE = "RouteCounter"
DIMENSION = "FunctionName"
HITS, RATE_LIMITED, OUTCOME_UNKNOWN, REJECTED = "Hits", "RateLimited", "OutcomeUnknown", "Rejected"
REASON = "Reason"
METRICS = (HITS, RATE_LIMITED, OUTCOME_UNKNOWN, REJECTED)
LOGGER = logging.getLogger("route_counter.metrics")


NOT_COUNTED = "X-Counted"  # "false" on the answer to an ignored address (ignoreIps): no metric


def outcome(response: Mapping[str, Any]) -> tuple[str, str] | None:
    """Which metric an answer counts toward, and the rejection reason (""); None for no metric."""
    status = response.get("statusCode", 0)
    if (response.get("headers") or {}).get(NOT_COUNTED) == "false":
        return None
    if status >= 400 and status != 500:  # a 500 is a bug or misconfiguration: Lambda's Errors and the logs
        try:
            code = str(json.loads(response.get("body") or "{}").get("error", ""))
        except ValueError:
            code = ""
        if status == 429 and code == "rate_limited":
            return RATE_LIMITED, ""
        if code == "outcome_unknown":
            return OUTCOME_UNKNOWN, ""
        if status < 500:
            return REJECTED, code or str(status)
        return None
    body = response.get("body") or ""
    if status in (200, 302) and ('"count"' in body or body.startswith("<svg")):  # JSON, or a counting badge
        return HITS, ""
    return None


def document(metric: str, reason: str, t: float, function: str) -> dict[str, Any]:
    """The EMF document: ``_aws`` metadata plus the dimension and metric values as top-level members."""
    directives = [{"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]], "Metrics": [{"Name": metric, "Unit": "Count"}]}]
    doc: dict[str, Any] = {DIMENSION: function, metric: 1}
    if reason:
        directives.append({"Namespace": NAMESPACE, "Dimensions": [[DIMENSION, REASON]],
                           "Metrics": [{"Name": metric, "Unit": "Count"}]})
        doc[REASON] = reason
    return {"_aws": {"Timestamp": int(t * 1000), "CloudWatchMetrics": directives}, **doc}


def emit(response: Mapping[str, Any], t: float) -> None:
    """Log the invocation's metric line, if its answer counts toward one. Never raises."""
    try:
        found = outcome(response)
        if found:
            function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
            LOGGER.info("metrics", extra=document(*found, t, function))
    except Exception:  # noqa: BLE001 - metrics must never cost an answer
        LOGGER.warning("metrics line failed", exc_info=True)


# The metering function's line: lines metered, not access-log lines, refused by the route rules, and
# chunks an earlier delivery had applied (re-deliveries made harmless).
METERED, UNPARSED, REFUSED, SKIPPED = "Metered", "Unparsed", "Refused", "ChunksSkipped"
METER_METRICS = (METERED, UNPARSED, REFUSED, SKIPPED)


def meter_document(values: Mapping[str, int], t: float, function: str) -> dict[str, Any]:
    """One EMF document with every metering metric of a delivery."""
    directives = [{"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]],
                   "Metrics": [{"Name": name, "Unit": "Count"} for name in METER_METRICS]}]
    return {"_aws": {"Timestamp": int(t * 1000), "CloudWatchMetrics": directives}, DIMENSION: function,
            **{name: int(values.get(name, 0)) for name in METER_METRICS}}
