"""Retried requests counted once: the Idempotency-Key header (handler/rules/idempotency.py), through the
real counter on moto, with answers lost and throttled on the way."""

from __future__ import annotations

import json

import pytest

from route_counter.handler import counter
from route_counter.handler.rules import idempotency, schema
from route_counter.handler.rules.limits import parse_rate_limits
from route_counter.handler.store import queries
from local.events import build_event
from tests.conftest import TABLE, stored

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def send(writer, settings, route="/pay", key: str | None = KEY, method="POST"):
    headers = [("Idempotency-Key", key)] if key is not None else []
    event, _ = build_event(method, route, headers)
    response = counter.handle(event, None, settings, writer)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_a_repeat_counts_nothing_and_answers_the_first_answers_count(writer, settings):
    assert send(writer, settings, key=None)[:2] == (200, {"route": "/pay", "count": 1})
    status, body, headers = send(writer, settings)
    assert (status, body) == (200, {"route": "/pay", "count": 2}) and "Idempotent-Replayed" not in headers
    send(writer, settings, key=None)  # another client's hit meanwhile
    status, body, headers = send(writer, settings)  # the retry
    assert (status, body, headers["Idempotent-Replayed"]) == (200, {"route": "/pay", "count": 2}, "true")
    assert headers["X-Counted"] == "false"  # the metrics line leaves it out
    assert stored(writer.client, "/pay")["count"] == 3


def test_the_key_is_scoped_to_its_route_and_method(writer, settings):
    assert send(writer, settings)[1]["count"] == 1
    assert send(writer, settings, method="PUT")[1]["count"] == 2  # same key, another method: counted
    assert send(writer, settings, route="/other")[1]["count"] == 1  # same key, another route: counted
    assert stored(writer.client, "/pay")["count"] == 2


def test_a_lost_answer_then_a_retry_with_the_same_key_counts_once(writer, settings):
    writer.lose_response("TransactWriteItems", 1)
    status, body, headers = send(writer, settings)
    assert (status, body["error"], "Retry-After" in headers) == (503, "outcome_unknown", False)
    assert "same Idempotency-Key" in body["message"]
    status, body, headers = send(writer, settings)  # the safe retry: the first did count
    assert (status, headers["Idempotent-Replayed"]) == (200, "true")
    assert body["count"] == 1 and stored(writer.client, "/pay")["count"] == 1


def test_a_throttled_first_attempt_leaves_no_claim_so_the_retry_counts(writer, settings):
    writer.throttle("TransactWriteItems", 100)
    assert send(writer, settings)[1]["error"] == "throttled"
    writer.throttle("TransactWriteItems", -writer._throttle["TransactWriteItems"])  # the storm is over
    status, body, headers = send(writer, settings)
    assert (status, body["count"], "Idempotent-Replayed" in headers) == (200, 1, False)


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "caf\u00e9", "a\tb"])
def test_a_bad_key_is_a_400_and_writes_nothing(writer, settings, value):
    status, body, _ = send(writer, settings, key=value)
    assert (status, body["error"]) == (400, "bad_idempotency_key")
    assert writer.writes == 0 and stored(writer.client, "/pay") is None


def test_the_drafts_quoted_string_form_is_the_same_key(writer, settings):
    send(writer, settings, key=KEY)
    assert send(writer, settings, key=f'"{KEY}"')[2]["Idempotent-Replayed"] == "true"


def test_a_claim_expires_after_a_day(writer, settings, clock):
    send(writer, settings)
    clock.advance(idempotency.CLAIM_SECONDS + 1)  # TTL may not have deleted it yet: it counts as gone
    status, body, headers = send(writer, settings)
    assert (status, body["count"], "Idempotent-Replayed" in headers) == (200, 2, False)


def test_a_rate_limited_route_with_a_key_is_limited_and_a_repeat_of_a_counted_hit_is_not(writer, settings):
    limited = settings._replace(limits=parse_rate_limits("/pay=1/1m"))
    assert send(writer, limited)[:2] == (200, {"route": "/pay", "count": 1})
    assert send(writer, limited)[2]["Idempotent-Replayed"] == "true"  # a repeat, not a 429
    status, body, _ = send(writer, limited, key="another")
    assert (status, body["error"]) == (429, "rate_limited") and stored(writer.client, "/pay")["count"] == 1


def test_claims_never_show_as_routes(writer, settings, reader, clock):
    for i in range(5):
        send(writer, settings, key=f"k{i}")
    view = queries.View(clock.time())
    page = queries.list_page(reader.client, TABLE, "/", 100, None, view)
    assert [(r["route"], r["count"]) for r in page["routes"]] == [("/pay", 5)]
    assert queries.top_routes(reader.client, TABLE, "/", 10, view)["scanned"] == 6  # 5 claims were read, not shown
    claim = idempotency.claim_key("POST", "/pay", "k0")
    item = reader.client.get_item(TableName=TABLE, Key=schema.key(claim))["Item"]
    assert int(item[schema.EXPIRES]["N"]) == int(clock.time()) + idempotency.CLAIM_SECONDS
