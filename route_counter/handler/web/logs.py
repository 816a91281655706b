"""CloudWatch Logs subscription events in: the base64 gzip payload, its log group and events. Pure.

A subscription delivers ``{"awslogs": {"data": BASE64(GZIP(JSON))}}``; the JSON is a DATA_MESSAGE with
``logGroup``, ``logStream`` and ``logEvents`` ([{"id", "timestamp", "message"}]), or a CONTROL_MESSAGE
that CloudWatch Logs sends to check the destination can be reached, which carries nothing to count
(CloudWatch Logs User Guide, "Subscription filters with AWS Lambda").
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any, NamedTuple

DATA_MESSAGE, CONTROL_MESSAGE = "DATA_MESSAGE", "CONTROL_MESSAGE"


class BadDelivery(ValueError):
    """Not a CloudWatch Logs subscription event: nothing in it can be counted."""


class Delivery(NamedTuple):
    log_group: str
    log_stream: str
    events: list[tuple[str, str]]  # (event id, message)
    control: bool = False


def decode(event: Any) -> Delivery:
    """The delivery inside a subscription event; BadDelivery for anything else."""
    try:
        data = event["awslogs"]["data"]
        payload = json.loads(gzip.decompress(base64.b64decode(data, validate=True)))
    except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError, zlib.error) as exc:
        raise BadDelivery(f"not a CloudWatch Logs subscription event ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise BadDelivery("the payload is not a JSON object")
    kind = payload.get("messageType")
    group, stream = payload.get("logGroup"), payload.get("logStream")
    if kind == CONTROL_MESSAGE:
        return Delivery(str(group or ""), str(stream or ""), [], control=True)
    events = payload.get("logEvents")
    if kind != DATA_MESSAGE or not isinstance(group, str) or not isinstance(stream, str) or not isinstance(events, list):
        raise BadDelivery("the payload lacks messageType, logGroup, logStream or logEvents")
    found = []
    for item in events:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("message"), str):
            raise BadDelivery("a log event lacks its id or message")
        found.append((item["id"], item["message"]))
    return Delivery(group, stream, found)


def encode(log_group: str, log_stream: str, events: list[tuple[str, str, int]]) -> dict[str, Any]:
    """A subscription event as CloudWatch Logs builds it, from (id, message, timestamp ms) triples: for the
    local API, the tests and the benchmark."""
    payload = {"messageType": DATA_MESSAGE, "owner": "123456789012", "logGroup": log_group, "logStream": log_stream,
               "subscriptionFilters": ["route-counter-meter"],
               "logEvents": [{"id": i, "timestamp": ts, "message": m} for i, m, ts in events]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}
