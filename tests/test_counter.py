"""The counter handler on moto: the response, the stored item, and exactly how many DynamoDB calls."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from route_counter.handler import counter
from route_counter.handler.rules import update
from route_counter.handler.rules.routes import parse_prefixes, parse_templates
from route_counter.handler.rules.settings import Settings
from local.events import build_event
from tests.conftest import TABLE, stored

EVENTS = Path(__file__).parent / "events"


def call(writer, settings, method="GET", target="/", headers=(), event=None):
    if event is None:
        event, function = build_event(method, target, headers)
        assert function == "counter"
    response = counter.handle(event, None, settings, writer)
    body = json.loads(response["body"]) if response["body"] else None
    return response, body


def test_first_hit_creates_the_route_with_count_one(writer, settings):
    response, body = call(writer, settings, "GET", "/hello")
    assert response["statusCode"] == 200
    assert body == {"route": "/hello", "count": 1}
    assert response["headers"]["Content-Type"] == "application/json"
    item = stored(writer.client, "/hello")
    assert item["count"] == 1 and item["methods"] == {"GET": 1}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["firstSeen"])
    assert item["firstSeen"] == item["lastSeen"]


def test_each_hit_is_one_update_item_and_counts_by_method(writer, settings):
    for method in ("GET", "GET", "POST", "DELETE", "HEAD"):
        call(writer, settings, method, "/api/items?page=2")
    assert writer.sent == {"UpdateItem": 5}
    item = stored(writer.client, "/api/items")
    assert item["count"] == 5
    assert item["methods"] == {"DELETE": 1, "GET": 2, "HEAD": 1, "POST": 1}
    assert item["firstSeen"] <= item["lastSeen"]


def test_first_seen_is_kept_and_last_seen_moves(writer, settings, clock):
    call(writer, settings, "GET", "/t")
    clock.advance(31 * 86400 + 0.25)
    call(writer, settings, "GET", "/t")
    item = stored(writer.client, "/t")
    assert (item["firstSeen"], item["lastSeen"]) == ("2026-11-24T05:30:00.000Z", "2026-12-25T05:30:00.250Z")


@pytest.mark.parametrize(
    ("target", "route"),
    [
        ("/", "/"),
        ("/a/b/", "/a/b"),
        ("//a//b", "/a/b"),
        ("/a/b?x=1&y=2", "/a/b"),
        ("/caf%C3%A9", "/caf\u00e9"),
        ("/a%20b", "/a b"),
    ],
)
def test_equivalent_paths_count_under_one_route(writer, settings, target, route):
    _, body = call(writer, settings, "GET", target)
    assert body["route"] == route
    assert stored(writer.client, route)["count"] == 1


def test_sample_aws_event_is_counted_under_resource_plus_proxy(writer, settings):
    event = json.loads((EVENTS / "rest_proxy_get.json").read_text())
    response, body = call(writer, settings, event=event)
    # requestContext.path carries the stage and a custom-domain base path; the key does not.
    assert event["requestContext"]["path"] == "/v1/prod/path/to/resource"
    assert (response["statusCode"], body) == (200, {"route": "/path/to/resource", "count": 1})


def test_sample_aws_root_event(writer, settings):
    event = json.loads((EVENTS / "rest_root_get.json").read_text())
    _, body = call(writer, settings, event=event)
    assert body == {"route": "/", "count": 1}


def test_options_preflight_is_answered_and_never_counted(writer, settings):
    response, _ = call(
        writer, settings, "OPTIONS", "/x",
        [("Origin", "https://site.example"), ("Access-Control-Request-Headers", "content-type")],
    )
    assert response["statusCode"] == 204
    headers = response["headers"]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    assert writer.sent == {} and stored(writer.client, "/x") is None


def test_cors_echoes_only_configured_origins(writer, settings):
    site = settings._replace(cors_origins=("https://site.example",))
    response, _ = call(writer, site, "GET", "/x", [("origin", "https://site.example")])
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://site.example"
    assert response["headers"]["Vary"] == "Origin"
    response, _ = call(writer, site, "GET", "/x", [("Origin", "https://evil.example")])
    assert "Access-Control-Allow-Origin" not in response["headers"]
    assert response["headers"]["Vary"] == "Origin"
    assert response["statusCode"] == 200  # CORS is enforced by browsers; the hit itself is still counted


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/" + "x" * 1024, 414, "route_too_long"),
        ("/a%00b", 400, "bad_characters"),
        ("/a%0Ab", 400, "bad_characters"),
        ("/admin%E2%80%AEgpj.exe", 400, "bad_characters"),  # U+202E, right-to-left override
        ("/a%E2%80%8Bb", 400, "bad_characters"),  # U+200B, zero width space
        ("/%EF%BB%BFx", 400, "bad_characters"),  # U+FEFF
        ("/a%E2%80%A8b", 400, "bad_characters"),  # U+2028, line separator
        ("/%zz", 400, "bad_encoding"),
        ("/%C0%AF", 400, "bad_encoding"),
        ("/elsewhere", 404, "route_not_counted"),
        # Nothing under the listing path is counted, however it is spelled.
        ("/%5Fcounts", 404, "reserved_route"),
        ("/%5fcounts/x", 404, "reserved_route"),
        ("/x/%2E%2E/_counts", 404, "reserved_route"),
        ("/x/..%2F_counts", 404, "reserved_route"),
    ],
)
def test_bad_input_gets_a_json_error_and_writes_nothing(writer, settings, target, status, code):
    rules = settings.rules._replace(prefixes=parse_prefixes("/api")) if code == "route_not_counted" else settings.rules
    response, body = call(writer, settings._replace(rules=rules), "GET", target)
    assert response["statusCode"] == status
    assert body["error"] == code and body["message"]
    assert "Traceback" not in response["body"]
    assert writer.sent == {}


@pytest.mark.parametrize(
    "event",
    [
        None,
        "GET /",
        [],
        {},
        {"httpMethod": "GET"},
        {"resource": "/"},
        {"httpMethod": 7, "resource": "/"},
        {"httpMethod": "GET", "resource": "/", "headers": {"a": 1}},
        {"httpMethod": "GET", "resource": "/", "requestContext": "x"},
        {"httpMethod": "GET", "resource": "/{proxy+}", "pathParameters": None},
        {"version": "2.0", "routeKey": "GET /", "rawPath": "/"},
    ],
)
def test_not_a_proxy_event_is_a_400(writer, settings, event):
    response = counter.handle(event, None, settings, writer)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "bad_event"
    assert writer.sent == {}


def test_unknown_method_is_405_with_allow(writer, settings):
    response, body = call(writer, settings, "PROPFIND", "/x")
    assert response["statusCode"] == 405 and body["error"] == "method_not_allowed"
    assert "GET" in response["headers"]["Allow"]
    assert writer.sent == {}


def test_templates_count_under_the_template(writer, settings):
    templated = settings._replace(rules=settings.rules._replace(templates=parse_templates("/users/{id}")))
    for user in ("1", "2", "3"):
        call(writer, templated, "GET", f"/users/{user}")
    assert stored(writer.client, "/users/{id}")["count"] == 3
    assert stored(writer.client, "/users/1") is None


# Faults, injected into the real botocore client below its retry layer (tests/faults.py).


def test_throttled_first_attempt_is_retried_and_counted_once(writer, settings):
    writer.throttle("UpdateItem", 2)
    response, body = call(writer, settings, "GET", "/t")
    assert (response["statusCode"], body) == (200, {"route": "/t", "count": 1})
    assert writer.throttled["UpdateItem"] == 2
    assert stored(writer.client, "/t")["count"] == 1


def test_throttling_beyond_the_budget_is_503_with_retry_after(writer, settings):
    writer.throttle("UpdateItem", 10_000)
    response, body = call(writer, settings, "GET", "/t")
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"
    assert body["error"] == "throttled" and body["requestId"]
    assert stored(writer.client, "/t") is None


def test_lost_response_is_not_resent_and_counts_exactly_once(writer, settings):
    writer.lose_response("UpdateItem", 1)
    response, body = call(writer, settings, "GET", "/t")
    # No Retry-After: a blind retry would count twice. The message says what makes a retry safe.
    assert response["statusCode"] == 503 and "Retry-After" not in response["headers"]
    assert body["error"] == "outcome_unknown" and "same Idempotency-Key" in body["message"]
    assert writer.sent == {"UpdateItem": 1}
    assert stored(writer.client, "/t")["count"] == 1  # applied once, never twice


def test_botocore_retries_would_double_count(reader):
    """Why the writer's client makes one attempt: with botocore retries on, a lost response counts twice."""
    reader.lose_response("UpdateItem", 1)
    result = reader.client.update_item(**update.hit_request(TABLE, update.Hit("/d", "GET", 1795498200.0)))
    assert result["Attributes"]["count"]["N"] == "2"  # one hit, two increments
    assert reader.sent == {"UpdateItem": 2}
    assert stored(reader.client, "/d")["count"] == 2


def test_refused_connection_is_retried_then_503(writer, settings):
    writer.refuse("UpdateItem", 1)
    response, body = call(writer, settings, "GET", "/t")
    assert (response["statusCode"], body["count"]) == (200, 1)
    writer.refuse("UpdateItem", 10_000)
    response, body = call(writer, settings, "GET", "/t")
    assert response["statusCode"] == 503 and body["error"] == "storage_unavailable"
    assert stored(writer.client, "/t")["count"] == 1


def test_missing_table_is_a_500_without_internals(writer, settings, caplog):
    missing = settings._replace(table_name="no-such-table")
    response, body = call(writer, missing, "GET", "/t")
    assert response["statusCode"] == 500
    assert body == {"error": "internal_error", "message": "the counter is misconfigured", "requestId": body["requestId"]}
    record = next(r for r in caplog.records if r.name == "route_counter.counter")
    assert record.cause == "ResourceNotFoundException" and record.requestId == body["requestId"]


def test_lambda_entry_point_uses_env_settings_and_one_client(table, monkeypatch):
    # In-process moto intercepts botocore only; the lean writer's entry point is tested over HTTP (test_lean).
    monkeypatch.setattr(counter, "SETTINGS", counter.SETTINGS._replace(writer="botocore"))
    monkeypatch.setattr(counter, "_client", None)
    event, _ = build_event("GET", "/entry")
    first = counter.handler(event, None)
    client = counter._client
    second = counter.handler(event, None)
    assert json.loads(first["body"])["count"] == 1 and json.loads(second["body"])["count"] == 2
    assert counter._client is client  # created once per container


def test_client_falls_back_to_the_default_loader_when_the_shortcut_breaks(table, monkeypatch, caplog):
    """The runtime's botocore may change the undocumented data-loader hook: a cold start must survive that."""
    from route_counter.handler.store import dynamo

    def broken(self, type_name):
        raise AttributeError("botocore changed")

    monkeypatch.setattr(dynamo._DynamoDBOnlyLoader, "list_available_services", broken)
    monkeypatch.setattr(dynamo, "_LOADER", dynamo._DynamoDBOnlyLoader())  # a cold start's: nothing cached yet
    client = dynamo.create_client(retries=False)
    event, _ = build_event("GET", "/fallback")
    response = counter.handle(event, None, Settings.from_env(os.environ), lambda: client)
    assert response["statusCode"] == 200 and json.loads(response["body"]) == {"route": "/fallback", "count": 1}
    assert "data-loader shortcut failed" in caplog.text


@pytest.mark.parametrize("proxy", ["_counts", "_counts/badge", "./_counts", "a/../_counts/x", "_counts/"])
def test_the_listing_path_is_never_counted_even_if_it_reaches_the_counter(writer, settings, proxy):
    """Whatever API Gateway's own path matching does, the counter itself refuses the listing path."""
    event, _ = build_event("GET", "/anything")
    event["pathParameters"] = {"proxy": proxy}
    response, body = call(writer, settings, event=event)
    assert (response["statusCode"], body["error"]) == (404, "reserved_route")
    assert writer.sent == {}


def test_an_unexpected_exception_is_a_json_500_with_the_request_id(monkeypatch, caplog):
    """The last-resort guard: a bug answers JSON 500 (never Lambda's error, which API Gateway makes a 502)."""
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(counter, "handle", broken)
    event, _ = build_event("GET", "/x", [("Origin", "https://site.example")], request_id="req-123")
    response = counter.handler(event, None)
    body = json.loads(response["body"])
    assert response["statusCode"] == 500 and response["headers"]["Content-Type"] == "application/json"
    assert body == {"error": "internal_error", "message": "the request could not be handled", "requestId": "req-123"}
    assert "a bug" not in response["body"] and "Traceback" in caplog.text  # logged, not shown
    assert counter.handler("not even an event", None)["statusCode"] in (400, 500)


def test_format_svg_counts_and_answers_an_uncached_badge(writer, settings):
    for n in (1, 2):
        event, _ = build_event("GET", "/visits/readme?format=svg&label=" + "%3Cb%3Eviews%07%E2%80%8F" + "x" * 60)
        response = counter.handle(event, None, settings, writer)
        assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "image/svg+xml"
        assert response["headers"]["Cache-Control"] == "no-cache, no-store, max-age=0"
        svg = response["body"]
        assert svg.startswith("<svg") and f">{n}</text>" in svg
        assert "&lt;b&gt;views" in svg and "<b>" not in svg and "\x07" not in svg and "\u200f" not in svg
        assert "x" * 40 not in svg  # the label is capped
    assert writer.sent == {"UpdateItem": 2}
    assert stored(writer.client, "/visits/readme")["count"] == 2  # the query never changes the route


def test_a_counting_badge_with_unknown_options_still_counts_in_the_default_style(writer, settings):
    for query in ("style=plastic&color=nope&abbreviated=maybe", "style=for-the-badge&color=red"):
        event, _ = build_event("GET", f"/visits/styled?format=svg&{query}")
        response = counter.handle(event, None, settings, writer)
        assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "image/svg+xml"
    assert stored(writer.client, "/visits/styled")["count"] == 2
    assert 'height="28"' in response["body"] and "#e05d44" in response["body"]  # the known options apply
