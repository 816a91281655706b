"""Metering an existing API from its access logs: what a line counts, and every request exactly once however
CloudWatch Logs and Lambda deliver the batches (twice, half-applied, with lost responses, shuffled)."""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter

import pulumi
import pytest
from hypothesis import given, settings, strategies as st

from route_counter.handler import meter
from route_counter.handler.rules import accesslog, aggregate, buckets, meter_schema, schema
from route_counter.handler.rules.routes import RouteRules, parse_templates
from route_counter.handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
from route_counter.handler.store import meter as store
from route_counter.handler.store.dynamo import create_client
from route_counter.handler.web import logs
from tests.conftest import CI, METER, START, TABLE
from tests.metered import GROUP, HOUR, deliver, http_line, rest_line, totals, usage
from tests.faults import Faults

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
    return aggregate.aggregate([(str(i), m) for i, m in enumerate(messages)], "shop", rules, buckets.UTC, START)


def test_routes_are_the_api_s_own_under_its_name_and_catch_alls_go_through_the_route_rules():
    batch = fold(rest_line("/users/7", "/users/{id}"), rest_line("/users/8", "/users/{id}", "PUT", 404),
                 rest_line("/orders/12/", "/{proxy+}"), rest_line("/a/%7Eb", "/{proxy+}"), rest_line("", "/"),
                 "garbage", rest_line("/" + "x" * 80, "/{proxy+}"))
    assert sorted(batch.routes) == ["/shop", "/shop/a/~b", "/shop/orders/{id}", "/shop/users/{id}"]
    users = batch.routes["/shop/users/{id}"]
    assert (users.count, users.methods, users.statuses) == (2, Counter(GET=1, PUT=1), Counter({"2xx": 1, "4xx": 1}))
    assert (batch.unparsed, batch.refused, batch.lines) == (["5"], [("6", "route is longer than 64 bytes")], 7)  # the long route: over maxRouteBytes


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
    line = rest_line("/a")
    event = logs.encode(GROUP, "stream-1", [("e1", line, 1)])
    assert logs.decode(event) == logs.Delivery(GROUP, "stream-1", [("e1", line)])
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
        client.create_table(**meter_schema.meter_table_kwargs(METER))
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
        expected = aggregate.aggregate(events, "shop", RouteRules(), buckets.UTC, START)
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


# -- the stack ---------------------------------------------------------------------------------------------------

@pulumi.runtime.test
def test_metering_subscribes_each_log_group_with_least_privilege_and_explicit_async_settings():
    from tests.aws_shapes import ACCOUNT, REGION
    from tests.stack import run_program
    from tests.test_infra import check

    def assertions(recorder, component):
        names = ("meter_access_log_format", "meter_log_group_arn", "meter_dead_letter_queue_url")
        return pulumi.Output.all(*(component.outputs[n] for n in names)).apply(
            lambda values: check_outputs(recorder, dict(zip(names, values, strict=True))))

    def check_outputs(recorder, outputs):
        filters = {r.name: r.inputs for r in recorder.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")}
        permissions = {r.name: r.inputs for r in recorder.of_type("aws:lambda/permission:Permission")
                       if r.inputs.get("principal") == "logs.amazonaws.com"}
        meter_fn = recorder.resources["route-counter-meter"].inputs
        assert meter_fn["handler"] == "handler.meter.handler"
        assert set(filters) == {"route-counter-meter-shop", "route-counter-meter-api"}
        assert filters["route-counter-meter-shop"]["logGroup"] == "/aws/apigateway/shop-prod"
        assert filters["route-counter-meter-shop"]["destinationArn"] == \
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:route-counter-meter-1a2b3c4"
        assert permissions["route-counter-meter-shop-invoke"]["sourceArn"] == \
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/apigateway/shop-prod:*"
        own = "/route-counter/route-counter-dev/access-logs"
        assert permissions["route-counter-meter-api-invoke"]["sourceArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{own}:*"
        assert all(p["sourceAccount"] == ACCOUNT and p["action"] == "lambda:InvokeFunction" for p in permissions.values())
        config = recorder.resources["route-counter-meter-async"].inputs
        assert (config["maximumRetryAttempts"], config["maximumEventAgeInSeconds"]) == (2, 21600)
        queue = recorder.resources["route-counter-meter-dlq"].inputs
        assert queue["sqsManagedSseEnabled"] is True
        assert config["destinationConfig"]["onFailure"]["destination"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:route-counter-meter-dlq-1a2b3c4"
        alarm = recorder.resources["route-counter-meter-dlq-alarm"].inputs
        assert (alarm["metricName"], alarm["threshold"], alarm["namespace"]) == ("ApproximateNumberOfMessagesVisible", 0, "AWS/SQS")
        tables = {t.name: t.inputs for t in recorder.of_type("aws:dynamodb/table:Table")}
        assert tables["route-counter-meter-table"]["ttl"] == {"attributeName": "expires", "enabled": True}
        variables = meter_fn["environment"]["variables"]
        assert variables["METER_SOURCES"] == f"shop=/aws/apigateway/shop-prod,api={own}"
        policies = {r.name: json.loads(r.inputs["policy"]) for r in recorder.of_type("aws:iam/rolePolicy:RolePolicy")}
        statements = {s.get("Sid"): s for s in policies["route-counter-meter-policy"]["Statement"]}
        assert statements["Table"]["Action"] == ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
        assert statements["MeterTable"]["Action"] == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
        assert statements["DeadLetters"]["Action"] == ["sqs:SendMessage"]
        listing = {s.get("Sid"): s for s in policies["route-counter-listing-policy"]["Statement"]}
        assert listing["Usage"]["Action"] == ["dynamodb:Query"]
        assert "METER_SOURCES" not in recorder.resources["route-counter-counter"].inputs["environment"]["variables"]
        assert outputs["meter_access_log_format"] == accesslog.FORMATS
        assert outputs["meter_log_group_arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{own}"
        assert outputs["meter_dead_letter_queue_url"].startswith(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/")

    return check(run_program(meter="shop=/aws/apigateway/shop-prod", meterLogGroup=True), assertions)


@pulumi.runtime.test
def test_without_metering_nothing_of_it_exists():
    from tests.stack import run_program
    from tests.test_infra import check

    def assertions(recorder, component):
        assert not recorder.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")
        assert not recorder.of_type("aws:sqs/queue:Queue") and "route-counter-meter" not in recorder.resources
        assert not any(name.startswith("meter_") for name in component.outputs)

    return check(run_program(), assertions)


@pytest.mark.parametrize("config, message", [
    ({"meter": "Shop=/x"}, "is not NAME=LOG_GROUP"),
    ({"meter": "shop=/x,shop=/y"}, "each name and each log group may appear once"),
    ({"meter": "api=/x", "meterLogGroup": True}, "api is the name of the stack's own log group"),
    ({"meter": "counts=/x", "countsPath": "counts"}, "is the listing's path"),
])
def test_bad_metering_config_is_refused_with_the_key_named(config, message):
    from route_counter.infra.settings import SettingsError, parse

    with pytest.raises(SettingsError, match=message) as raised:
        parse(config)
    assert str(raised.value).startswith("meter")


# -- reading what was metered: the listing, the CLI ----------------------------------------------------------------

@pytest.mark.parametrize("access", ["apiKey", "iam"])
def test_the_listing_answers_a_month_of_usage_and_refuses_a_bad_month(access, metering, reader):
    from route_counter.handler import listing
    from local.events import build_event

    client = create_client(retries=True)
    deliver(metering, lambda: client, [(f"e{i}", rest_line(f"/o/{i}", "/o/{id}", key="k1" if i % 3 else "k2"))
                                       for i in range(9)] + [("x", rest_line("/p", "/p", key="k2"))])
    settings = metering._replace(cors_origins=("*",), counts_access=access)
    event, _ = build_event("GET", "/_counts/usage?month=2026-11")
    answer = listing.handle(event, None, settings, reader)
    assert answer["statusCode"] == 200 and answer["headers"]["Cache-Control"] == "no-store"
    assert json.loads(answer["body"])["consumers"] == [
        {"consumer": "k1", "count": 6, "routes": {"/shop/o/{id}": 6}},
        {"consumer": "k2", "count": 4, "routes": {"/shop/o/{id}": 3, "/shop/p": 1}}]
    event, _ = build_event("GET", "/_counts/usage")  # this month (the clock's): 2026-11
    assert json.loads(listing.handle(event, None, settings, reader)["body"])["month"] == "2026-11"
    for bad in ("2026-13", "26-11", "2026-11-01", "2026-11%0A", "2026-11%0D%0A", "%0A2026-11"):
        event, _ = build_event("GET", f"/_counts/usage?month={bad}")
        answer = listing.handle(event, None, settings, reader)
        assert answer["statusCode"] == 400 and json.loads(answer["body"])["error"] == "bad_query"
    event, _ = build_event("GET", "/_counts/usage")
    off = listing.handle(event, None, settings._replace(meter_table=""), reader)
    assert off["statusCode"] == 404 and json.loads(off["body"])["error"] == "metering_off"
    assert reader.sent["TransactWriteItems"] + reader.sent["UpdateItem"] + reader.sent["PutItem"] == 0


def cli(*argv: str) -> tuple[int, str]:
    import io

    from route_counter.cli.cli import parser, run

    out = io.StringIO()
    code = run(parser().parse_args(["--table", TABLE, *argv, "--meter-table", METER]), out, io.StringIO())
    return code, out.getvalue()


def test_ingest_meters_a_file_once_and_usage_prints_what_an_invoice_needs(metering, tmp_path, clock):
    path = tmp_path / "access.log"
    lines = [rest_line("/orders/1", "/orders/{id}", key="k1"), rest_line("/orders/2", "/orders/{id}", "POST", 201, key="k1"),
             rest_line("/health", "/health", t=START + 60), "not a line", rest_line("/late", "/late", t=START + 7200)]
    path.write_text("\n".join(lines) + "\n")
    code, text = cli("ingest", str(path), "--source", "shop", "--until", "2026-11-24T06:30:00Z")
    assert code == 0 and text.startswith("ingested 3 requests on shop (1 chunk applied); "
                                         "1 line unparsed, 0 refused, 1 at or after --until")
    code, text = cli("ingest", str(path), "--source", "shop", "--until", "2026-11-24T06:30:00Z")
    # The unparsed line is read again (never marked: a rule changed since might take it), the rest skipped.
    assert code == 0 and text.startswith("ingested 0 requests") and "1 line unparsed" in text
    assert text.strip().endswith("3 ingested before, skipped")
    client = create_client(retries=True)
    assert totals(client)["/shop/orders/{id}"]["methods"] == {"GET": 1, "POST": 1}
    assert "/shop/late" not in totals(client)
    code, text = cli("usage", "--month", "2026-11", "--format", "csv")
    assert text.splitlines() == ["month,consumer,route,requests,final", "2026-11,k1,/shop/orders/{id},2,false"]
    code, text = cli("usage", "--month", "2026-11")
    assert text.splitlines() == ["    requests  API key id", "           2  k1"]


@pytest.mark.parametrize("argv, message", [
    (("ingest", "nofile.log", "--source", "shop"), "nofile.log: No such file"),
    (("ingest", "README.md", "--source", "Shop"), "--source must be"),
    (("ingest", "README.md", "--source", "shop", "--until", "yesterday"), "--until must be an ISO-8601 time"),
    (("ingest", "README.md", "--source", "shop", "--until", "2026-11-24T06:30:00"), "--until needs a time zone"),
    (("usage", "--month", "2026-13"), "month must be a month like 2026-11"),
])
def test_cli_metering_mistakes_are_one_line_and_exit_2(metering, argv, message, capsys):
    from route_counter.cli.cli import main

    assert main(["--table", TABLE, *argv, "--meter-table", METER]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_meter_replay_drains_the_dead_letter_queue_exactly_once(metering, monkeypatch):
    import botocore.session

    sqs = botocore.session.get_session().create_client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    events = [(f"e{i}", rest_line(f"/r{i % 3}", f"/r{i % 3}")) for i in range(30)]
    delivery = logs.encode(GROUP, "s9", [(i, m, 0) for i, m in events])
    client = create_client(retries=True)
    with pytest.raises(store.ChunkFailed):  # its last try failed: Lambda sends it to the queue
        meter.handle(delivery, metering, lambda: FailAfter(client, 0))
    for body in ({"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": delivery}, {"junk": 1}):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"meter": f"shop={GROUP}"})
    import io

    from route_counter.cli.cli import parser, run

    out = io.StringIO()
    argv = ["--table", TABLE, "--stack", "dev", "meter-replay", "--queue-url", url, "--meter-table", METER]
    assert run(parser().parse_args(argv), out, io.StringIO()) == 1  # the junk message is left: exit 1
    assert out.getvalue().strip() == "replayed 1 delivery; left 1 in the queue (see above)"
    assert {r: v["count"] for r, v in totals(client).items()} == {"/shop/r0": 10, "/shop/r1": 10, "/shop/r2": 10}
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1  # the junk, left for a person to read
    assert deliver(metering, lambda: client, events, "s9")["applied"] == 0  # a late re-delivery: nothing twice


def test_the_counter_s_cold_start_imports_nothing_of_metering_or_zones():
    """Metering and timezones must not cost the counter's cold start (make bench measures it)."""
    import subprocess
    import sys

    from tests.stack import ROOT

    code = ("import sys, route_counter.handler.counter, route_counter.handler.listing; "
            "print(sorted(m for m in ('route_counter.handler.rules.aggregate', 'route_counter.handler.store.meter', "
            "'zoneinfo', 'tzdata') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_lambda_entry_point_says_why_before_letting_lambda_retry(metering, monkeypatch, caplog):
    client = create_client(retries=True)
    monkeypatch.setattr(meter, "_settings", metering)
    monkeypatch.setattr(meter, "_client", FailAfter(client, 0))
    event = logs.encode(GROUP, "s1", [("e1", rest_line("/a", "/a"), 0)])
    with caplog.at_level(logging.ERROR, logger="route_counter"), pytest.raises(store.ChunkFailed):
        meter.handler(event, None)
    assert any(r.getMessage().startswith("delivery not fully applied") for r in caplog.records)
    monkeypatch.setattr(meter, "_client", client)
    assert meter.handler(event, None)["applied"] == 1
