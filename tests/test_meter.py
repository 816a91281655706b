"""Metering an existing API from its access logs: what a line counts, and every request exactly once however
CloudWatch Logs and Lambda deliver the batches (twice, half-applied, with lost responses, shuffled)."""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from handler import meter
from handler.rules import accesslog, aggregate, buckets, schema
from handler.rules.routes import RouteRules, parse_templates
from handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
from handler.store import meter as store
from handler.store.dynamo import create_client
from handler.store.queries import View, get_route, usage_month
from handler.web import logs
from tests.conftest import CI, START, TABLE
from tests.faults import Faults

METER = "route-counts-test-meter"
GROUP = "/aws/apigateway/shop-prod"
HOUR = 3600


def rest_line(path: str, resource: str = "/{proxy+}", method: str = "GET", status: int = 200, t: float = START,
              key: str = "-", stage: str = "prod") -> str:
    return json.dumps({"requestId": "r", "requestTime": str(int(t * 1000)), "httpMethod": method,
                       "path": f"/{stage}{path}", "stage": stage, "status": str(status), "resourcePath": resource,
                       "apiKeyId": key})


def http_line(path: str, route_key: str, method: str = "GET", status: int = 200, t: float = START) -> str:
    return json.dumps({"requestId": "r", "requestTime": str(int(t * 1000)), "httpMethod": method, "path": path,
                       "stage": "$default", "status": str(status), "routeKey": route_key})


# -- what a line says ------------------------------------------------------------------------------------------

def test_a_rest_line_gives_its_template_method_status_time_and_key():
    line = accesslog.parse(rest_line("/users/7", "/users/{id}", "post", 201, START + 1.5, "k1"))
    assert line == accesslog.LogLine("/users/{id}", "/users/7", "POST", "2xx", START + 1.5, "k1")


def test_an_http_api_line_takes_the_route_key_s_path_and_a_catch_all_the_request_path():
    assert accesslog.parse(http_line("/items/9", "GET /items/{id}")).template == "/items/{id}"
    for key in ("$default", "ANY /{proxy+}"):
        line = accesslog.parse(http_line("/items/9", key))
        assert (line.template, line.path) == (None, "/items/9")
    assert accesslog.parse(rest_line("", "/")).path == "/"  # the stage's root


@pytest.mark.parametrize("message", [
    "not json", "[]", '"a string"', json.dumps({"httpMethod": "GET"}),
    rest_line("/x").replace('"200"', '"abc"'), rest_line("/x").replace('"200"', '"600"'),
    rest_line("/x").replace('"GET"', '"G ET"'), json.dumps({"requestTime": "-", "httpMethod": "GET", "path": "/x", "status": "200"}),
])
def test_what_is_not_an_access_log_line_is_unparsed(message):
    assert accesslog.parse(message) is None


def test_the_formats_to_paste_log_what_the_parser_reads():
    for fmt in accesslog.FORMATS.values():
        fields = json.loads(fmt.replace("$context.", "ctx."))
        assert {"requestTime", "httpMethod", "path", "stage", "status"} <= set(fields)
    assert "resourcePath" in accesslog.REST_FORMAT and "routeKey" in accesslog.HTTP_FORMAT


# -- routes and increments -------------------------------------------------------------------------------------

RULES = RouteRules(64, (), parse_templates("/orders/{id}"))


def fold(*messages: str, rules: RouteRules = RULES) -> aggregate.Batch:
    return aggregate.aggregate([(str(i), m) for i, m in enumerate(messages)], "shop", rules, buckets.UTC)


def test_routes_are_the_api_s_own_under_its_name_and_catch_alls_go_through_the_route_rules():
    batch = fold(rest_line("/users/7", "/users/{id}"), rest_line("/users/8", "/users/{id}", "PUT", 404),
                 rest_line("/orders/12/", "/{proxy+}"), rest_line("/a/%7Eb", "/{proxy+}"), rest_line("", "/"),
                 "garbage", rest_line("/" + "x" * 80, "/{proxy+}"))
    assert sorted(batch.routes) == ["/shop", "/shop/a/~b", "/shop/orders/{id}", "/shop/users/{id}"]
    users = batch.routes["/shop/users/{id}"]
    assert (users.count, users.methods, users.statuses) == (2, Counter(GET=1, PUT=1), Counter({"2xx": 1, "4xx": 1}))
    assert (batch.unparsed, batch.refused, batch.lines) == (["5"], 1, 7)  # the long route: over maxRouteBytes


def test_buckets_are_the_request_s_time_not_the_delivery_s():
    batch = fold(rest_line("/a", "/a", t=START - 5 * HOUR), rest_line("/a", "/a", t=START))
    inc = batch.routes["/shop/a"]
    assert inc.hours == Counter({int(START // HOUR) - 5: 1, int(START // HOUR): 1})
    assert (inc.first, inc.last) == (START - 5 * HOUR, START)


def test_usage_is_per_key_month_and_route():
    batch = fold(rest_line("/a", "/a", key="k1"), rest_line("/a", "/a", key="k1"), rest_line("/b", "/b", key="k2"),
                 rest_line("/b", "/b"))
    assert batch.usage == Counter({("2026-11", "k1", "/shop/a"): 2, ("2026-11", "k2", "/shop/b"): 1})


# -- deliveries ------------------------------------------------------------------------------------------------

def test_a_delivery_decodes_and_a_control_message_counts_nothing():
    event = logs.encode(GROUP, "stream-1", [("e1", rest_line("/a"), 1)])
    assert logs.decode(event) == logs.Delivery(GROUP, "stream-1", [("e1", rest_line("/a"))])
    control = json.loads(json.dumps(event))
    import base64
    import gzip

    control["awslogs"]["data"] = base64.b64encode(gzip.compress(json.dumps(
        {"messageType": "CONTROL_MESSAGE", "logGroup": "", "logStream": "", "logEvents": [{"id": "", "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function"}]}).encode())).decode()
    assert logs.decode(control).control
    for bad in ({}, {"awslogs": {"data": "%%%"}}, {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}}, None):
        with pytest.raises(logs.BadDelivery):
            logs.decode(bad)


# -- exactly once, against moto ---------------------------------------------------------------------------------

@pytest.fixture
def metering(table):
    client = create_client(retries=True)
    client.create_table(**schema.meter_table_kwargs(METER))
    env = {**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}", "ROUTE_TEMPLATES": "/orders/{id}"}
    return Settings.from_env(env, METER_VARIABLES)


def deliver(settings: Settings, client, events: list[tuple[str, str]], stream: str = "s1") -> dict:
    return meter.handle(logs.encode(GROUP, stream, [(i, m, 0) for i, m in events]), settings, client)


def totals(client) -> dict[str, dict]:
    """Every metered route's record (series included), as the listing shows it."""
    items = client.scan(TableName=TABLE)["Items"]
    return {i["route"]["S"]: get_route(client, TABLE, i["route"]["S"], View(START)) for i in items}


def usage(client) -> dict:
    return usage_month(client, METER, "2026-11")


def test_the_same_delivery_twice_counts_once(metering):
    client = Faults(create_client(retries=True))
    events = [(f"e{i}", rest_line(f"/users/{i}", "/users/{id}", key="k1")) for i in range(5)]
    first = deliver(metering, client, events)
    assert (first["status"], first["applied"], first["skipped"], first["Metered"]) == ("metered", 1, 0, 5)
    once, billed = totals(client.client), usage(client.client)
    again = deliver(metering, client, events)
    assert (again["applied"], again["skipped"]) == (0, 1)
    assert totals(client.client) == once and usage(client.client) == billed
    assert once["/shop/users/{id}"]["count"] == 5 and once["/shop/users/{id}"]["statuses"] == {"2xx": 5}
    assert billed["consumers"] == [{"consumer": "k1", "count": 5, "routes": {"/shop/users/{id}": 5}}]


def test_a_lost_transaction_response_re_sent_by_botocore_counts_once(metering):
    client = Faults(create_client(retries=True))
    client.lose_response("TransactWriteItems", 1)  # applied, then the answer is lost: botocore sends it again
    result = deliver(metering, client, [("e1", rest_line("/a", "/a"))])
    assert client.sent["TransactWriteItems"] == 2 and result["skipped"] == 1  # the re-send found its marker
    assert totals(client.client)["/shop/a"]["count"] == 1


class FailAfter:
    """A client whose transactions fail (a network error) after the first k."""

    def __init__(self, client, k: int) -> None:
        self.client, self.left = client, k

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def transact_write_items(self, **kwargs):
        if self.left == 0:
            raise ConnectionError("the network went away")
        self.left -= 1
        return self.client.transact_write_items(**kwargs)


def test_a_batch_failing_after_k_of_n_chunks_is_exact_once_retried(metering, monkeypatch):
    monkeypatch.setattr(store, "MAX_CHUNK", 3)  # 10 routes: 4 chunks
    client = create_client(retries=True)
    events = [(f"e{i}", rest_line(f"/r{i % 10}", f"/r{i % 10}", status=500 if i % 7 == 0 else 200)) for i in range(40)]
    with pytest.raises(store.ChunkFailed):
        deliver(metering, lambda: FailAfter(client, 2), events)
    assert sum(r["count"] for r in totals(client).values()) == 24  # two chunks of three routes, four lines each
    retried = deliver(metering, lambda: client, events)
    assert (retried["applied"], retried["skipped"]) == (2, 2)
    records = totals(client)
    assert {r: records[r]["count"] for r in records} == {f"/shop/r{i}": 4 for i in range(10)}
    assert sum(records[r]["statuses"].get("5xx", 0) for r in records) == len([i for i in range(40) if i % 7 == 0])


def test_a_delivery_from_an_unknown_group_or_not_a_delivery_writes_nothing(metering, caplog):
    client = create_client(retries=True)
    event = logs.encode("/some/other/group", "s", [("e1", rest_line("/a", "/a"), 0)])
    assert meter.handle(event, metering, lambda: client)["status"] == "unknown_log_group"
    assert meter.handle({"Records": []}, metering, lambda: client)["status"] == "bad_delivery"
    assert client.scan(TableName=TABLE)["Items"] == []


def test_unparsed_lines_are_counted_and_logged_by_id_never_by_content(metering, caplog):
    client = create_client(retries=True)
    secret = '{"password": "hunter2"}'
    with caplog.at_level(logging.INFO, logger="route_counter"):
        result = deliver(metering, lambda: client, [("e1", secret), ("e2", rest_line("/a", "/a"))])
    assert (result["Unparsed"], result["Metered"]) == (1, 1)
    assert "hunter2" not in caplog.text and any(getattr(r, "eventId", None) == "e1" for r in caplog.records)
    line = next(r for r in caplog.records if r.getMessage() == "metrics")
    assert (line.Unparsed, line.Metered, line._aws["CloudWatchMetrics"][0]["Namespace"]) == (1, 1, "RouteCounter")


# Each example is 10,000 events through moto's transactions (about 30 s): one locally, three fresh ones in CI.
@settings(max_examples=3 if CI else 1)
@given(seed=st.integers(0, 2**32 - 1))
def test_10000_events_in_random_batches_with_duplicate_deliveries_come_out_exact(seed):
    """10,000 events over 50 routes, shuffled into random batches; some deliveries arrive twice, some fail
    part-way and arrive again: every route's totals, methods, buckets and statuses, and the usage, exact."""
    from moto import mock_aws

    rng = random.Random(seed)
    methods, statuses = ("GET", "POST", "DELETE"), (200, 201, 302, 404, 503)
    events = []
    for i in range(10_000):
        t = START - rng.randrange(0, 8 * HOUR)  # across midnight (START is 05:30 UTC): two days, nine hours
        events.append((f"id{i}", rest_line(f"/r{i % 50}/x", f"/r{i % 50}/{{id}}", rng.choice(methods), rng.choice(statuses),
                                           t, rng.choice(("-", "k1", "k2")))))
    rng.shuffle(events)
    with mock_aws():
        client = create_client(retries=True)
        client.create_table(**schema.create_table_kwargs(TABLE))
        client.create_table(**schema.meter_table_kwargs(METER))
        settings = Settings.from_env({**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}"}, METER_VARIABLES)
        start, stream = 0, 0
        while start < len(events):
            size = rng.randrange(1000, 4000)
            batch, start, stream = events[start:start + size], start + size, stream + 1
            if rng.random() < 0.3:  # fails after some chunks, then Lambda delivers it again
                with pytest.raises(store.ChunkFailed):
                    deliver(settings, lambda: FailAfter(client, rng.randrange(0, 2)), batch, f"s{stream}")
            deliver(settings, lambda: client, batch, f"s{stream}")
            if rng.random() < 0.3:  # delivered twice
                assert deliver(settings, lambda: client, batch, f"s{stream}")["applied"] == 0
        expected = aggregate.aggregate(events, "shop", RouteRules(), buckets.UTC)
        found = totals(client)
        assert set(found) == set(expected.routes)
        for route, inc in expected.routes.items():
            record = found[route]
            assert record["count"] == inc.count and record["methods"] == dict(inc.methods)
            assert record["statuses"] == dict(inc.statuses)
            hours = {buckets.time.strftime("%Y-%m-%dT%H", buckets.time.gmtime(h * HOUR)): n for h, n in inc.hours.items()}
            assert record["hourly"] == hours
            days = {buckets.time.strftime("%Y-%m-%d", buckets.time.gmtime(d * 86400)): n for d, n in inc.days.items()}
            assert record["daily"] == days
        billed = {(c["consumer"], r): n for c in usage(client)["consumers"] for r, n in c["routes"].items()}
        assert billed == {(k, r): n for (_, k, r), n in expected.usage.items()}
