"""Faults injected into the real botocore client, below its retry layer: nothing counted twice, nothing lost."""

from __future__ import annotations

import json
import socket

import pytest

from route_counter.handler import counter
from route_counter.handler.store import dynamo
from route_counter.handler.store import writer as writer_module
from local.events import build_event
from tests.conftest import stored
from tests.faults import Faults


def hit(writer, settings, route="/f"):
    event, _ = build_event("GET", route)
    response = counter.handle(event, None, settings, writer)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_lost_responses_interleaved_with_hits_never_double_count(writer, settings, report):
    ok_counts, unknown = [], 0
    for i in range(300):
        if i % 3 == 1:
            writer.lose_response("UpdateItem", 1)
        status, body, headers = hit(writer, settings)
        if status == 200:
            ok_counts.append(body["count"])
        else:
            assert (status, body["error"], "Retry-After" in headers) == (503, "outcome_unknown", False)
            unknown += 1
    applied = writer.sent["UpdateItem"]
    assert unknown == 100 and len(ok_counts) == 200
    assert applied == 300  # one request per hit: nothing re-sent
    assert stored(writer.client, "/f")["count"] == applied  # every applied write counted once, never more
    assert len(set(ok_counts)) == len(ok_counts) and max(ok_counts) <= applied  # each 200 is its own increment
    report.count("lost responses injected (write applied, answer dropped)", unknown)
    report.set("lost responses: increments beyond one per hit", stored(writer.client, "/f")["count"] - 300)


@pytest.mark.parametrize("storm", [1, 2, 3, 4])
def test_throttling_storm_within_the_budget_counts_once(writer, settings, storm, report):
    """The head throttled once moves the hit to a hot part; the rest of the storm falls on the write that
    lists the parts on the head (idempotent, so retried within the budget): one hit, counted once."""
    writer.throttle("UpdateItem", storm)
    status, body, _ = hit(writer, settings, f"/storm/{storm}")
    assert (status, body["count"]) == (200, 1)
    assert writer.throttled["UpdateItem"] == storm and writer.sent["UpdateItem"] == 2  # parts listed, the hit
    assert stored(writer.client, f"/storm/{storm}")["count"] == 1
    report.count("throttling answers injected", storm)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded"])
def test_each_throttling_code_dynamodb_answers_is_retried_and_counts_once(writer, settings, code):
    """DynamoDB throttles with any of these codes (its API reference, Common Errors and UpdateItem);
    a provisioned-capacity table answers ProvisionedThroughputExceededException."""
    writer.throttle("UpdateItem", 2, code)
    status, body, _ = hit(writer, settings, "/throttled")
    assert (status, body["count"]) == (200, 1)
    assert writer.throttled["UpdateItem"] == 2 and stored(writer.client, "/throttled")["count"] == 1


def test_throttling_beyond_the_budget_is_503_and_never_counted(writer, settings, report, clock):
    writer.throttle("UpdateItem", 1000)
    status, body, headers = hit(writer, settings, "/storm/long")
    assert (status, body["error"], headers["Retry-After"]) == (503, "throttled", "1")
    assert stored(writer.client, "/storm/long") is None and writer.sent["UpdateItem"] == 0
    # The budget bounds it (on the injected clock), well inside the Lambda timeout, with backoff between tries.
    assert sum(clock.slept) < writer_module.RETRY_BUDGET and clock.now < writer_module.RETRY_BUDGET
    # The hit's own throttle moved it at once; the write listing the parts backed off between its tries.
    assert len(clock.slept) == writer.throttled["UpdateItem"] - 2 >= 3
    assert all(0 <= s <= writer_module.BACKOFF_CAP for s in clock.slept)
    report.count("throttling answers injected", writer.throttled["UpdateItem"])


def test_dynamodb_unreachable_is_a_quick_503(aws, settings, monkeypatch, clock):
    """A real refused connection (no moto in the path): answered 503 JSON within the retry budget."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
    from moto.core.models import botocore_stubber

    monkeypatch.setattr(botocore_stubber, "enabled", False)  # let the request really go to the closed port
    refused = Faults(dynamo.create_client(retries=False))
    status, body, headers = hit(refused, settings, "/down")
    assert (status, body["error"], headers["Retry-After"]) == (503, "storage_unavailable", "1")
    # Refused before sending, so retried (with backoff between tries) until the budget ran out.
    assert len(clock.slept) == refused.sent["UpdateItem"] - 1 >= 2 and clock.now < writer_module.RETRY_BUDGET


@pytest.mark.parametrize("code", ["TransactionConflictException", "ReplicatedWriteConflictException"])
def test_write_conflicts_are_retried_then_a_503_never_a_500(writer, settings, code):
    """Another request holding the item (a transaction on it; on a multi-Region strongly consistent global
    table, a write from another Region) refuses the write without applying it: it is sent again within the
    budget, and past the budget the answer is a 503 to retry, not "misconfigured"."""
    writer.throttle("UpdateItem", 2, code)
    status, body, _ = hit(writer, settings, "/conflict")
    assert (status, body["count"]) == (200, 1) and stored(writer.client, "/conflict")["count"] == 1
    writer.throttle("UpdateItem", 1000, code)
    status, body, headers = hit(writer, settings, "/conflict")
    assert (status, body["error"], headers["Retry-After"]) == (503, "write_conflict", "1")
    assert stored(writer.client, "/conflict")["count"] == 1


def test_a_clock_that_never_advances_still_ends_the_retries_with_a_503(writer, settings, monkeypatch):
    """With time frozen (sleep returns at once, the monotonic clock stands still) the backoff neither
    overflows nor loops for ever: the attempts are bounded too."""
    from route_counter.handler import clock as handler_clock

    slept: list[float] = []
    monkeypatch.setattr(handler_clock, "CLOCK", handler_clock.Clock(lambda: 1.7e9, lambda: 0.0, slept.append))
    writer.throttle("UpdateItem", 5000)
    status, body, _ = hit(writer, settings, "/frozen")
    assert (status, body["error"]) == (503, "throttled")
    # The hit's one throttle, then the bounded tries of the write listing the parts.
    assert writer.throttled["UpdateItem"] == 1 + writer_module.MAX_ATTEMPTS and max(slept) <= writer_module.BACKOFF_CAP
