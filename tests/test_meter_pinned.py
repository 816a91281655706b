"""Behaviours a planted one-line bug once slipped past (#32, point 9): each test here fails when its
behaviour breaks, and says which it pins."""

from __future__ import annotations

import os

import pulumi
import pytest

from route_counter.handler.rules import aggregate, buckets, meter_schema, schema
from route_counter.handler.rules.routes import RouteRules
from route_counter.handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
from route_counter.handler.store import meter as store
from route_counter.handler.store.dynamo import create_client
from route_counter.handler.web import badge
from route_counter.infra.settings import SettingsError, own_group_name, parse
from tests.conftest import START, TABLE
from tests.conftest import METER
from tests.metered import GROUP, deliver, rest_line, totals

HOUR, DAY = 3600, 86400


ANY_ROUTE = RouteRules()


def fold(*lines: str, rules: RouteRules = ANY_ROUTE, days: buckets.Days = buckets.UTC, now: float = START):
    return aggregate.aggregate([(str(i), m) for i, m in enumerate(lines)], "shop", rules, days, now)


def test_a_metered_route_of_exactly_max_route_bytes_counts_and_one_byte_more_is_refused():
    rules = RouteRules(64)
    exact = "/" + "a" * (64 - len("/shop") - 1)  # "/shop" + it: 64 bytes
    batch = fold(rest_line(exact), rest_line(exact + "b"), rules=rules)
    assert list(batch.routes) == ["/shop" + exact] and len(("/shop" + exact).encode()) == 64
    assert batch.refused == [("1", "route is longer than 64 bytes")]


def test_metered_days_fall_in_the_configured_timezone():
    t = 1795474800.0  # 2026-11-23T23:00Z: already the 24th in Berlin (UTC+1)
    berlin = buckets.Days("Europe/Berlin")
    inc = fold(rest_line("/a", "/a", t=t), days=berlin).routes["/shop/a"]
    assert inc.days == {berlin.day(t): 1} and berlin.day(t) == buckets.UTC.day(t) + 1


def test_last_seen_is_the_delivery_s_latest_line_whatever_their_order(metering):
    client = create_client(retries=True)
    lines = [("b", rest_line("/a", "/a", t=START - 60)), ("a", rest_line("/a", "/a", t=START - 5)),
             ("c", rest_line("/a", "/a", t=START - 3600))]
    deliver(metering, lambda: client, lines)
    record = totals(client)["/shop/a"]
    assert record["lastSeen"] == schema.iso(START - 5) and record["firstSeen"] == schema.iso(START - 3600)


@pytest.mark.parametrize("age_hours, bucketed", [(buckets.HOURS_KEPT - 1, True), (buckets.HOURS_KEPT, False)])
def test_the_oldest_retained_hour_keeps_its_bucket_at_the_boundary(metering, age_hours, bucketed):
    client = create_client(retries=True)
    now_hour = int(START // HOUR)
    t = (now_hour - age_hours) * HOUR + 1
    deliver(metering, lambda: client, [("x", rest_line("/a", "/a", t=t))])
    item = client.get_item(TableName=TABLE, Key=schema.key("/shop/a"))["Item"]
    assert (buckets.hour_name(now_hour - age_hours) in item) is bucketed
    assert item[schema.COUNT]["N"] == "1"  # counted in the total either way


@pytest.mark.parametrize("offset", [-HOUR, +HOUR])
def test_expires_counts_from_the_later_of_the_delivery_and_its_latest_line(table, offset):
    client = create_client(retries=True)
    client.create_table(**meter_schema.meter_table_kwargs(METER))
    settings = Settings.from_env({**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}",
                                  "ROUTE_EXPIRY_DAYS": "3"}, METER_VARIABLES)
    deliver(settings, lambda: client, [("x", rest_line("/a", "/a", t=START + offset))])
    expires = int(client.get_item(TableName=TABLE, Key=schema.key("/shop/a"))["Item"][schema.EXPIRES]["N"])
    assert expires == int(max(START, START + offset)) + 3 * DAY


def test_markers_outlive_every_redelivery_path(metering):
    client = create_client(retries=True)
    deliver(metering, lambda: client, [("x", rest_line("/a", "/a"))])
    markers = [i for i in client.scan(TableName=METER)["Items"] if i[meter_schema.METER_PK]["S"].startswith(meter_schema.MARKER_PREFIX)]
    window = 24 * HOUR + 6 * HOUR + 14 * DAY  # CloudWatch Logs' retries, Lambda's, the dead-letter queue's retention
    assert markers and all(int(m[schema.EXPIRES]["N"]) > START + window for m in markers)
    assert store.MARKER_DAYS * DAY > window


def test_the_metered_api_s_own_listing_path_counts_under_its_name():
    batch = fold(rest_line("/_counts"), rest_line("/_counts/badge", "/_counts/badge"))
    assert sorted(batch.routes) == ["/shop/_counts", "/shop/_counts/badge"]


@pulumi.runtime.test
def test_every_line_reaches_the_function_and_the_dead_letter_queue_keeps_14_days():
    from tests.stack import run_program
    from tests.test_infra import check

    def assertions(recorder, component):
        filters = recorder.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")
        assert filters and all(f.inputs["filterPattern"] == "" for f in filters)  # an empty pattern passes every line
        assert recorder.resources["route-counter-meter-dlq"].inputs["messageRetentionSeconds"] == 14 * DAY

    return check(run_program(meter="shop=/aws/apigateway/shop-prod"), assertions)


def test_route_expiry_days_takes_its_upper_bound_and_no_more():
    assert parse({"routeExpiryDays": 3650}).route_expiry_days == 3650
    with pytest.raises(SettingsError, match="routeExpiryDays"):
        parse({"routeExpiryDays": 3651})


@pytest.mark.parametrize("style, rounded", [("flat", True), ("flat-square", False), ("for-the-badge", False)])
def test_only_the_flat_badge_is_rounded(style, rounded):
    svg, _ = badge.badge("visits", 5, badge.badge_options({"style": style}, strict=True))
    assert ('rx="3"' in svg) is rounded


def test_a_line_at_exactly_until_is_left_to_the_subscription(metering, tmp_path):
    import io

    from route_counter.cli.cli import parser, run

    until = START + 60
    path = tmp_path / "access.log"
    path.write_text("\n".join([rest_line("/a", "/a", t=until - 0.001), rest_line("/a", "/a", t=until)]) + "\n")
    out = io.StringIO()
    argv = ["--table", TABLE, "ingest", str(path), "--source", "shop", "--until", "2026-11-24T05:31:00Z",
            "--meter-table", METER]
    assert run(parser().parse_args(argv), out, io.StringIO()) == 0
    assert "1 at or after --until" in out.getvalue()
    assert totals(create_client(retries=True))["/shop/a"]["count"] == 1


def test_ingest_exits_1_when_the_store_fails_and_2_for_bad_input(metering, tmp_path, monkeypatch, capsys):
    from route_counter.cli import ingest as commands
    from route_counter.cli.cli import main

    path = tmp_path / "access.log"
    path.write_text(rest_line("/a", "/a") + "\n")
    argv = ["--table", TABLE, "ingest", str(path), "--source", "shop", "--meter-table", METER]

    def failing(*args, **kwargs):
        raise store.ChunkFailed("chunk 0: ProvisionedThroughputExceededException")

    monkeypatch.setattr(commands, "meter", failing)
    assert main(argv) == 1
    assert main(["--table", TABLE, "ingest", str(path), "--source", "Not-A-Name", "--meter-table", METER]) == 2
    assert main(["--table", TABLE, "ingest", str(tmp_path / "missing.log"), "--source", "shop", "--meter-table", METER]) == 2
    capsys.readouterr()


def test_the_own_log_group_is_named_from_project_then_stack(metering):
    assert own_group_name("proj", "stk") == "/route-counter/proj-stk/access-logs"
    from route_counter.cli import metering as commands
    from route_counter.cli.context import Context

    settings = parse({"meterLogGroup": True})
    ctx = Context(None, TABLE, RouteRules(), buckets.UTC, settings)
    found = commands.meter_settings(ctx, METER, ("route-counter", "prod"))
    assert found.sources == {"/route-counter/route-counter-prod/access-logs": "api"}


def test_a_delivery_stores_its_days_in_the_stack_s_timezone(table):
    client = create_client(retries=True)
    client.create_table(**meter_schema.meter_table_kwargs(METER))
    berlin = Settings.from_env({**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}",
                                "TIMEZONE": "Europe/Berlin"}, METER_VARIABLES)
    t = 1795474800.0  # 2026-11-23T23:00Z: the 24th in Berlin
    deliver(berlin, lambda: client, [("x", rest_line("/a", "/a", t=t))])
    item = client.get_item(TableName=TABLE, Key=schema.key("/shop/a"))["Item"]
    assert buckets.day_name(berlin.days.day(t)) in item and buckets.day_name(buckets.UTC.day(t)) not in item
