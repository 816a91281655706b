"""Metering takes hostile lines, late logs and odd clocks (#32, points 2 and 3): no single line stops its
delivery, every key fits DynamoDB's limits, times are sane, and a late line never shortens a route's life."""

from __future__ import annotations

import json
import os

import pytest

from route_counter.handler.rules import accesslog, aggregate, buckets, meter_schema, schema
from route_counter.handler.rules.routes import RouteRules
from route_counter.handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
from route_counter.handler.store.dynamo import create_client
from tests.conftest import START, TABLE
from tests.conftest import METER
from tests.metered import GROUP, deliver, rest_line, totals, usage

DAY = 86400
KEY = "a1b2c3d4e5"  # an API key id as API Gateway logs it


def hostile_lines() -> dict[str, str]:
    """One of each line the hostile run found stopping a whole delivery on main."""
    nested = "[" * 100_000 + "]" * 100_000
    return {
        "long path with a key": rest_line("/" + "p" * 1009, "/{proxy+}", key=KEY),
        "400-digit time": rest_line("/a", "/a").replace(str(int(START * 1000)), "9" * 400),
        "5000-digit time": rest_line("/a", "/a").replace(str(int(START * 1000)), "9" * 5000),
        "after year 9999": rest_line("/a", "/a", t=253402300800 + DAY),
        "nested JSON": nested,
        "nested in a field": json.dumps({"httpMethod": "GET"})[:-1] + ',"path":' + nested + "}",
        "lone surrogate key": rest_line("/a", "/a").replace('"apiKeyId": "-"', '"apiKeyId": "\\ud800"'),
        "lone surrogate path": rest_line("/aZZ", "/{proxy+}").replace("ZZ", "\\udfff"),
        "a key that is no key id": rest_line("/a", "/a", key="k#1"),
        "a key id ending in a newline": rest_line("/a", "/a", key=KEY + "\n"),
        "year 2100": rest_line("/a", "/a", t=4102444800),
        "before API Gateway": rest_line("/a", "/a", t=1400000000),
        "an object for a method": rest_line("/a", "/a").replace('"GET"', '{"x": 1}'),
    }


@pytest.fixture
def zoned(table):
    """A metering stack with a timezone (the 9999 line raised in the zone's calendar)."""
    create_client(retries=True).create_table(**meter_schema.meter_table_kwargs(METER))
    env = {**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}", "TIMEZONE": "Europe/Berlin"}
    return Settings.from_env(env, METER_VARIABLES)


@pytest.mark.parametrize("name", list(hostile_lines()))
def test_one_hostile_line_is_unparsed_or_refused_and_the_rest_of_its_delivery_counts(zoned, name):
    client = create_client(retries=True)
    events = [("good1", rest_line("/orders", "/orders", key=KEY)), ("bad", hostile_lines()[name]),
              ("good2", rest_line("/orders", "/orders", key=KEY))]
    done = deliver(zoned, lambda: client, events)
    if name == "long path with a key":  # a route the rules accept: stored, its usage key hashed to fit
        assert (done["Metered"], done["Unparsed"] + done["Refused"]) == (3, 0)
        assert totals(client)["/shop/" + "p" * 1009]["count"] == 1
    else:
        assert (done["Metered"], done["Unparsed"] + done["Refused"]) == (2, 1)
    assert totals(client)["/shop/orders"]["count"] == 2
    assert usage(client)["consumers"][0]["routes"]["/shop/orders"] == 2


def test_every_line_the_rules_accept_has_keys_within_dynamodb_s_limits(metering):
    client = create_client(retries=True)
    rules = RouteRules(2048)
    longest_key = "K" * 128
    path = "/" + "é" * 1000  # 2,001 bytes: the longest route maxRouteBytes 2048 lets through under /shop
    batch = aggregate.aggregate([("1", rest_line(path, "/{proxy+}", key=longest_key))], "shop", rules, buckets.UTC,
                                START)
    (month, consumer, route), = batch.usage
    key = meter_schema.usage_key(month, consumer, route)
    assert len(key[meter_schema.METER_SK]["S"].encode()) <= meter_schema.SORT_KEY_LIMIT
    assert len(key[meter_schema.METER_PK]["S"].encode()) <= 2048
    assert len(schema.key(route)["route"]["S"].encode()) <= 2048
    long_settings = metering._replace(rules=rules)
    done = deliver(long_settings, lambda: client, [("1", rest_line(path, "/{proxy+}", key=longest_key))])
    assert done["Metered"] == 1
    assert usage(client)["consumers"][0]["routes"] == {route: 1}  # the whole route, though the key holds a hash


def test_a_month_s_usage_spreads_over_partitions_and_reads_back_whole(metering):
    client = create_client(retries=True)
    events = [(f"e{i}", rest_line(f"/r{i}", f"/r{i}", key=f"k{i % 7}")) for i in range(60)]
    deliver(metering, lambda: client, events)
    items = client.scan(TableName=METER)["Items"]
    partitions = {i[meter_schema.METER_PK]["S"] for i in items if i[meter_schema.METER_PK]["S"].startswith(meter_schema.USAGE_PREFIX)}
    assert len(partitions) > 1 and all(p.startswith("usage#2026-11#") for p in partitions)
    found = usage(client)
    assert sum(c["count"] for c in found["consumers"]) == 60 and len(found["consumers"]) == 7


def test_usage_written_before_the_shards_is_still_read(metering):
    client = create_client(retries=True)
    client.put_item(TableName=METER, Item={meter_schema.METER_PK: {"S": "usage#2026-11"}, meter_schema.METER_SK: {"S": "old#/shop/a"},
                                           "n": {"N": "5"}, "consumer": {"S": "old"}, "route": {"S": "/shop/a"}})
    assert usage(client)["consumers"] == [{"consumer": "old", "count": 5, "routes": {"/shop/a": 5}}]


def test_request_time_in_seconds_or_milliseconds_is_the_same_time():
    ms = accesslog.parse(rest_line("/a", "/a"))
    seconds = accesslog.parse(rest_line("/a", "/a").replace(str(int(START * 1000)), str(int(START))))
    assert ms.t == seconds.t == int(START)


@pytest.mark.parametrize("t, counted", [
    (aggregate.API_GATEWAY_LAUNCH - 1, False), (aggregate.API_GATEWAY_LAUNCH, True),
    (START + DAY, True), (START + DAY + 1, False),
])
def test_times_that_cannot_be_real_are_refused(t, counted):
    batch = aggregate.aggregate([("1", rest_line("/a", "/a", t=t))], "shop", RouteRules(), buckets.UTC, START)
    assert (bool(batch.routes), [i for i, _ in batch.refused]) == (counted, [] if counted else ["1"])


def test_a_late_line_never_moves_expires_earlier(table):
    client = create_client(retries=True)
    client.create_table(**meter_schema.meter_table_kwargs(METER))
    env = {**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}", "ROUTE_EXPIRY_DAYS": "7"}
    settings = Settings.from_env(env, METER_VARIABLES)
    deliver(settings, lambda: client, [("now", rest_line("/a", "/a", t=START))], "s1")
    expires = int(client.get_item(TableName=TABLE, Key=schema.key("/shop/a"))["Item"][schema.EXPIRES]["N"])
    assert expires == int(START) + 7 * DAY  # counted from the delivery (here: the line's own time)
    deliver(settings, lambda: client, [("old", rest_line("/a", "/a", t=START - 10 * DAY))], "s2")
    later = int(client.get_item(TableName=TABLE, Key=schema.key("/shop/a"))["Item"][schema.EXPIRES]["N"])
    assert later >= expires and later > START


def test_a_line_dated_far_ahead_neither_immortalises_a_route_nor_moves_first_seen(metering):
    client = create_client(retries=True)
    deliver(metering, lambda: client, [("far", rest_line("/a", "/a", t=4102444800)), ("now", rest_line("/a", "/a"))])
    record = totals(client)["/shop/a"]
    assert record["count"] == 1 and record["firstSeen"].startswith("2026-11-24")


@pytest.mark.parametrize("path, stage, base, route", [
    ("/prod/users/7", "prod", None, "/users/7"),
    ("/prodx/users/7", "prod", None, "/prodx/users/7"),  # the stage comes off only at a "/" boundary
    ("/prod", "prod", None, "/"),
    ("/v1/users/7", "prod", "v1", "/users/7"),  # a custom domain's base path mapping, not the stage
    ("/prod/users/7", "prod", "(none)", "/prod/users/7"),  # an empty mapping: nothing comes off
    ("/v1/orders/users/7", "prod", "v1/orders", "/users/7"),
])
def test_a_catch_all_line_gives_the_same_route_through_a_custom_domain(path, stage, base, route):
    fields = json.loads(rest_line("/x"))
    fields.update({"path": path, "stage": stage, "basePath": base if base else "-"})
    assert accesslog.parse(json.dumps(fields)).path == route


def test_the_formats_log_the_base_path_matched():
    for fmt in accesslog.FORMATS.values():
        assert json.loads(fmt)["basePath"] == "$context.customDomain.basePathMatched"


# -- meter-replay and ingest never lose or stall (point 4) -----------------------------------------------------

def _cli(*argv: str) -> tuple[int, str]:
    import io

    from route_counter.cli.cli import parser, run

    out = io.StringIO()
    return run(parser().parse_args(["--table", TABLE, *argv]), out, io.StringIO()), out.getvalue()


def _dead_letter(sqs, url: str, delivery: dict) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetriesExhausted"},
                                                           "requestPayload": delivery}))


def _queued(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def queue(metering):
    import botocore.session

    sqs = botocore.session.get_session().create_client("sqs", region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="dlq")["QueueUrl"]


def test_meter_replay_without_the_stack_s_config_stops_and_leaves_the_queue(queue, monkeypatch, capsys):
    from route_counter.cli.cli import main
    from route_counter.handler.web import logs

    sqs, url = queue
    _dead_letter(sqs, url, logs.encode(GROUP, "s1", [("e1", rest_line("/a", "/a"), 0)]))
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {})  # no pulumi, or `pulumi config` failed
    assert main(["--table", TABLE, "--stack", "dev", "meter-replay", "--queue-url", url, "--meter-table", METER]) == 2
    err = capsys.readouterr().err
    assert "cannot read which log groups are metered" in err and len(err.strip().splitlines()) == 1
    assert _queued(sqs, url) == 1 and not totals(create_client(retries=True))


def test_meter_replay_leaves_what_it_cannot_apply_and_replays_the_rest(queue, monkeypatch, capsys):
    from route_counter.handler.web import logs

    sqs, url = queue
    foreign = logs.encode("/aws/apigateway/other", "s1", [("e1", rest_line("/a", "/a"), 0)])
    good = logs.encode(GROUP, "s2", [("e2", rest_line("/b", "/b"), 0)])
    for delivery in (foreign, good):
        _dead_letter(sqs, url, delivery)
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"meter": f"shop={GROUP}"})
    code, text = _cli("--stack", "dev", "meter-replay", "--queue-url", url, "--meter-table", METER)
    assert (code, text.strip()) == (1, "replayed 1 delivery; left 1 in the queue (see above)")
    assert "unknown_log_group; left in the queue" in capsys.readouterr().err
    assert {r: v["count"] for r, v in totals(create_client(retries=True)).items()} == {"/shop/b": 1}
    assert _queued(sqs, url) == 1


def _lines(n: int, first: int = 0) -> list[str]:
    return [rest_line(f"/r{i % 7}", f"/r{i % 7}", t=START - i, request_id=f"g{i}") for i in range(first, first + n)]


def test_ingest_of_a_grown_file_counts_only_the_new_lines(metering, tmp_path):
    path = tmp_path / "access.log"
    path.write_text("\n".join(_lines(501)) + "\n")
    assert _cli("ingest", str(path), "--source", "shop", "--meter-table", METER)[0] == 0
    path.write_text("\n".join(_lines(502)) + "\n")  # one line appended
    code, text = _cli("ingest", str(path), "--source", "shop", "--meter-table", METER)
    assert code == 0 and text.startswith("ingested 1 request ") and "501 ingested before, skipped" in text
    assert sum(v["count"] for v in totals(create_client(retries=True)).values()) == 502


def test_ingest_stopped_mid_window_then_grown_re_applies_that_window_exactly(metering, tmp_path, monkeypatch):
    from route_counter.cli import ingest as commands
    from route_counter.handler.store.meter import ChunkFailed

    monkeypatch.setattr(commands, "INGEST_BATCH", 100)
    path = tmp_path / "access.log"
    path.write_text("\n".join(_lines(250)) + "\n")
    real, calls = commands.meter, []

    def stop_after_third_window(*args, **kwargs):
        calls.append(1)
        done = real(*args, **kwargs)
        if len(calls) == 3:
            raise ChunkFailed("the process went away after applying it")
        return done

    monkeypatch.setattr(commands, "meter", stop_after_third_window)
    from route_counter.cli.cli import main

    assert main(["--table", TABLE, "ingest", str(path), "--source", "shop", "--meter-table", METER]) == 1
    monkeypatch.setattr(commands, "meter", real)
    path.write_text("\n".join(_lines(260)) + "\n")  # and the file grew meanwhile
    assert _cli("ingest", str(path), "--source", "shop", "--meter-table", METER)[0] == 0
    assert sum(v["count"] for v in totals(create_client(retries=True)).values()) == 260


def _made_up_methods(n: int, offset: int = 0) -> list[str]:
    import itertools as it
    import string

    words = ("".join(p) for p in it.product(string.ascii_uppercase, repeat=4))
    return [w for w in it.islice(words, offset, offset + n)]


def test_made_up_methods_count_under_one_name_and_never_stop_a_delivery(zoned):
    """400 invented methods in one delivery once made an expression past DynamoDB's 4 KB (the good line
    beside them never counted); 117 deliveries of 150 made an item past 400 KB. Only the methods API
    Gateway routes have attributes of their own: every other one is OTHER."""
    client = create_client(retries=True)
    events = [(f"m{i}", rest_line("/x", "/x", method=m)) for i, m in enumerate(_made_up_methods(400))]
    events += [("good", rest_line("/x", "/x", method="POST")), ("opt", rest_line("/x", "/x", method="OPTIONS"))]
    done = deliver(zoned, lambda: client, events)
    assert done["Metered"] == 402
    for round_ in range(3):  # more deliveries of other methods: the item gains no attribute
        deliver(zoned, lambda: client, [(f"r{round_}-{i}", rest_line("/x", "/x", method=m))
                                        for i, m in enumerate(_made_up_methods(150, 400 + 150 * round_))])
    record = totals(client)["/shop/x"]
    assert record["count"] == 402 + 450 and record["methods"] == {"OPTIONS": 1, "OTHER": 850, "POST": 1}
    item = client.get_item(TableName=TABLE, Key=schema.key("/shop/x"))["Item"]
    assert sum(name.startswith(schema.METHOD_COUNT_PREFIX) for name in item) == 3


def test_the_largest_update_and_item_any_traffic_can_make_fit_dynamodb_by_construction():
    """The worst case, computed: a batch for one route with every recorded method, every status class,
    every retained hour and day and the most leftovers a write removes, on the longest route, as an
    expression (DynamoDB: 4 KB) and as the item it can grow (400 KB), countries and visitors included."""
    from route_counter.handler.rules import countries, update

    now = START
    inc = aggregate.Increments()
    days = buckets.Days("Europe/Berlin")
    for method in (*schema.RECORDED_METHODS, "BREW", "PROPFIND"):
        for status in ("100", "200", "302", "404", "503"):
            for hour in range(buckets.HOURS_KEPT + 24):  # late lines past the range as well
                t = now - hour * buckets.HOUR - 1
                inc.add(accesslog.LogLine(None, "/x", method, f"{status[0]}xx", t, None), days)
    for day in range(buckets.DAYS_KEPT + 10):
        inc.add(accesslog.LogLine(None, "/x", "GET", "2xx", now - day * DAY, None), days)
    stale = [buckets.hour_name(int(now // buckets.HOUR) - buckets.HOURS_KEPT - i) for i in range(update.MAX_CLEANUP)]
    route = "/" + "r" * (2047)
    request = update.increments_request(TABLE, route, inc, now, days, expiry_days=3650, stale=stale)
    assert len(request["UpdateExpression"].encode()) < 4096
    # The item: the retained buckets, the sweep's and a cleanup's worth of leftovers of each kind, every
    # recorded method and status, every country, visitors per day, bots, the times, expiry.
    big = str(schema.MAX_SET_COUNT)
    numbers = [schema.COUNT, schema.BOTS, schema.VISITORS, schema.EXPIRES]
    numbers += [schema.method_attribute(m) for m in schema.RECORDED_METHODS]
    numbers += [schema.status_attribute(s) for s in schema.STATUS_CLASSES]
    numbers += [countries.COUNTRY_PREFIX + code for code in countries.CODES]
    hour0, day0 = int(now // buckets.HOUR), days.day(now)
    numbers += [buckets.hour_name(hour0 - i) for i in range(buckets.HOURS_KEPT + update.MAX_CLEANUP)]
    numbers += [buckets.day_name(day0 - i) for i in range(buckets.DAYS_KEPT + update.MAX_CLEANUP)]
    numbers += [buckets.visitors_of(buckets.day_name(day0 - i)) for i in range(buckets.DAYS_KEPT + update.MAX_CLEANUP)]
    item = {schema.KEY: {"S": route}, schema.FIRST_SEEN: {"S": schema.iso(now)}, schema.LAST_SEEN: {"S": schema.iso(now)},
            **{name: {"N": big} for name in numbers}}
    assert schema.item_size(item) < schema.MAX_ITEM_BYTES // 10


def test_meter_replay_deletes_a_dead_lettered_control_message_as_handled(queue, monkeypatch, capsys):
    """CloudWatch Logs' CONTROL_MESSAGE (sent when a subscription is made) holds no request: nothing to meter,
    nothing to keep; it must not sit in the queue for ever as "left"."""
    import base64
    import gzip

    sqs, url = queue
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
               "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE"}]}
    _dead_letter(sqs, url, {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(control).encode())).decode()}})
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"meter": f"shop={GROUP}"})
    code, text = _cli("--stack", "dev", "meter-replay", "--queue-url", url, "--meter-table", METER)
    assert (code, text.strip()) == (0, "replayed 0 deliveries") and _queued(sqs, url) == 0
    assert not totals(create_client(retries=True))


@pytest.mark.parametrize("url, message", [
    ("https://abc123.execute-api.us-east-1.amazonaws.com/v1/", "must be an SQS queue's URL"),
    ("http://127.0.0.1:8080/anything", "must be an SQS queue's URL"),
    ("http://sqs.example.com/123456789012/dlq", "plain http:// off this machine"),
    ("https://sqs.us-east-1.amazonaws.com/123456789012/dlq?x=1", "must be an SQS queue's URL"),
    ("http://127.0.0.1:99999/123456789012/dlq", "is not a URL"),
])
def test_meter_replay_refuses_a_url_that_is_not_a_queue_before_sending_anything(url, message, metering, monkeypatch, capsys):
    from route_counter.cli.cli import main

    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"meter": f"shop={GROUP}"})
    assert main(["--table", TABLE, "--stack", "dev", "meter-replay", "--queue-url", url, "--meter-table", METER]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.e2e
def test_meter_replay_at_the_local_api_counts_nothing_and_says_it_is_no_queue(capsys, monkeypatch):
    from route_counter.cli.cli import main
    from tests.localapi import LocalApi

    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # the CLI sets these for its process: undone after
        if not os.environ[name]:
            monkeypatch.delenv(name)

    with LocalApi("--quiet", "--meter", f"shop={GROUP}") as api:
        url = f"{api.base}/123456789012/dlq"
        assert main(["--endpoint", api.base, "meter-replay", "--queue-url", url]) == 2
        assert "did not answer as an SQS queue" in capsys.readouterr().err
        status, _, body = api.request("GET", "/_counts")
        assert status == 200 and body["routes"] == []


@pytest.mark.parametrize(("raw", "seconds"), [
    ("99999999999", 99999999999.0),  # the last 11-digit value: seconds (year 5138)
    ("100000000000", 100000000.0),  # the first 12-digit value: milliseconds (1973)
    ("1764547200000", 1764547200.0), ("1764547200", 1764547200.0), ("100000000", 100000000.0),
])
def test_request_times_are_seconds_below_twelve_digits_and_milliseconds_from_there(raw, seconds):
    assert accesslog.epoch_seconds(raw) == seconds
