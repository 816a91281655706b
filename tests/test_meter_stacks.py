"""Metering on many stacks and real accounts (#32, point 5): filters that do not collide, metered routes
the public counter cannot move, usage that is not public, data kept like the counts, and alarms that
say when logs stop arriving."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pulumi
import pulumi_aws as aws
import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules.settings import COUNTER_VARIABLES, LISTING_VARIABLES, Settings
from route_counter.handler.rules.sources import EXAMPLE_ROUTES
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.stack import ROOT, Recorder, run_program
from tests.test_infra import check

SHOP = "/aws/apigateway/shop-prod"
FILTER = "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"


@pulumi.runtime.test
def test_subscription_filters_are_named_per_project_and_stack():
    def assertions(recorder, component):
        names = {r.inputs["name"] for r in recorder.of_type(FILTER)}
        assert names == {"route-counter-prod-meter-shop"}

    return check(run_program("prod", meter=f"shop={SHOP}"), assertions)


@pulumi.runtime.test
def test_the_metering_table_follows_protect_data():
    def assertions(recorder, component):
        table = recorder.resources["route-counter-meter-table"].inputs
        assert table["deletionProtectionEnabled"] is True and component.meter_table._protect is True

    return check(run_program(meter=f"shop={SHOP}", protectData=True), assertions)


@pulumi.runtime.test
def test_metering_alarms_on_lost_deliveries_and_a_failing_subscription():
    def assertions(recorder, component):
        alarms = {r.name: r.inputs for r in recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        wanted = {"route-counter-meter-DestinationDeliveryFailures": ("AWS/Lambda", "DestinationDeliveryFailures"),
                  "route-counter-meter-AsyncEventsDropped": ("AWS/Lambda", "AsyncEventsDropped"),
                  "route-counter-meter-shop-DeliveryErrors": ("AWS/Logs", "DeliveryErrors"),
                  "route-counter-meter-shop-DeliveryThrottling": ("AWS/Logs", "DeliveryThrottling")}
        for name, (namespace, metric) in wanted.items():
            alarm = alarms[name]
            assert (alarm["namespace"], alarm["metricName"], alarm["threshold"]) == (namespace, metric, 0)
            assert alarm["alarmActions"] and alarm["comparisonOperator"] == "GreaterThanThreshold"
        shop = alarms["route-counter-meter-shop-DeliveryErrors"]["dimensions"]
        assert shop == {"LogGroupName": SHOP, "DestinationType": "Lambda", "FilterName": "route-counter-dev-meter-shop"}
        assert alarms["route-counter-meter-AsyncEventsDropped"]["dimensions"]["FunctionName"].startswith("route-counter-meter")

    return check(run_program(meter=f"shop={SHOP}"), assertions)


def test_the_api_gateway_logging_role_and_account_setting_are_kept_on_destroy(monkeypatch):
    kept = {}
    for kind in ("Account", "Role", "RolePolicyAttachment"):
        module = aws.apigateway if kind == "Account" else aws.iam
        real = getattr(module, kind)

        def recording(name, *args, real=real, **kwargs):
            kept[name] = bool(kwargs["opts"].retain_on_delete)
            return real(name, *args, **kwargs)

        monkeypatch.setattr(module, kind, recording)
    run_program(apiGatewayLogsRole=True)
    assert kept["route-counter-apigateway-account"] is True
    assert kept["route-counter-apigateway-logs"] is True and kept["route-counter-apigateway-logs-policy"] is True


@dataclasses.dataclass
class StandardGroups(Recorder):
    """aws.cloudwatch.get_log_group as the provider answers it for a Standard-class group."""

    looked_up: list[str] = dataclasses.field(default_factory=list)

    def call(self, args):
        if args.token == "aws:cloudwatch/getLogGroup:getLogGroup":
            self.looked_up.append(args.args["name"])
            return {"name": args.args["name"], "arn": f"arn:aws:logs:x:y:log-group:{args.args['name']}",
                    "logGroupClass": "STANDARD", "id": args.args["name"]}
        return super().call(args)


def test_an_infrequent_access_log_group_is_refused_at_preview():
    from route_counter.infra.metering import subscribable

    assert subscribable(SHOP, "STANDARD") == SHOP
    with pytest.raises(pulumi.RunError, match="is of class INFREQUENT_ACCESS; CloudWatch Logs subscribes only STANDARD"):
        subscribable(SHOP, "INFREQUENT_ACCESS")


@pulumi.runtime.test
def test_a_metered_group_is_looked_up_and_subscribed_by_its_name():
    recorder = StandardGroups()
    _, program = run_program(recorder=recorder, meter=f"shop={SHOP}")
    return program["route_counter"].metering["filters"][0].log_group.apply(
        lambda group: assert_equal((group, recorder.looked_up), (SHOP, [SHOP])))


def assert_equal(found, expected):
    assert found == expected


def test_the_environment_check_measures_the_stack_s_own_log_group_by_its_real_name():
    def config(n: int) -> dict:
        return {"meter": ",".join(f"a{i:03d}=/aws/apigateway/{'g' * 80}{i:03d}" for i in range(n)), "meterLogGroup": True}

    n = 1
    while True:  # as many metered groups as fit with a 64-character stand-in for the own group's name
        try:
            parse(config(n + 1))
        except SettingsError:
            break
        n += 1
    parse(config(n))
    config = config(n)
    with pytest.raises(SettingsError, match="over Lambda's limit of 4096"):
        parse(config, project_stack=("route-counter", "s" * 100 + "-with-a-long-stack-name" * 4))


@pytest.fixture
def metered_counter(aws_env):
    return Settings.from_env({**aws_env, "METERED": "shop"}, COUNTER_VARIABLES)


@pytest.fixture
def aws_env(table):
    return dict(os.environ)


def test_the_public_counter_cannot_add_to_a_metered_route(metered_counter, writer, reader, settings):
    for target in ("/shop/users/%7Bid%7D", "/shop", "/SHOP/../shop/x", "/shop/users/7"):
        event, _ = build_event("DELETE", target)
        answer = counter.handle(event, None, metered_counter, writer)
        assert answer["statusCode"] == 404 and json.loads(answer["body"])["error"] == "reserved_route", target
    assert not writer.client.scan(TableName=settings.table_name)["Items"]
    event, _ = build_event("GET", "/shopping/cart")  # only at a "/" boundary
    assert counter.handle(event, None, metered_counter, writer)["statusCode"] == 200


def test_the_listing_still_reads_metered_routes(table, reader):
    listing_settings = Settings.from_env(dict(os.environ), LISTING_VARIABLES)
    event, _ = build_event("GET", "/_counts?route=/shop/users/{id}")
    assert json.loads(listing.handle(event, None, listing_settings, reader)["body"])["error"] == "route_not_found"


def test_a_metered_name_may_not_shadow_the_readme_s_example_routes():
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"curl [^\s]*?(?:8080|\))/([a-z0-9-]+)", readme))
    assert shown and shown <= set(EXAMPLE_ROUTES)
    for name in EXAMPLE_ROUTES:
        with pytest.raises(SettingsError, match="a counted route in the README's examples"):
            parse({"meter": f"{name}={SHOP}"})


def test_the_counter_is_told_the_metered_names_and_nothing_else_of_metering():
    environment = parse({"meter": f"shop={SHOP}", "meterLogGroup": True}).function_environment("counter", "t")
    assert environment["METERED"] == "shop,api" and "METER_SOURCES" not in environment


def test_usage_per_api_key_is_never_served_on_a_public_listing(table, reader):
    env = {**os.environ, "METER_TABLE": "route-counts-test-meter"}
    public = Settings.from_env(env, LISTING_VARIABLES)
    event, _ = build_event("GET", "/_counts/usage?month=2026-11")
    answer = listing.handle(event, None, public, reader)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 403 and body["error"] == "usage_not_public"
    assert "countsAccess apiKey" in body["message"] and "python -m counts usage" in body["message"]
    assert not reader.sent["Query"]
    guarded = Settings.from_env({**env, "COUNTS_ACCESS": "iam"}, LISTING_VARIABLES)
    assert guarded.counts_access == "iam"


@pytest.mark.parametrize("now, final", [
    ("2026-11-30T23:59:59Z", False), ("2026-12-02T05:59:59Z", False), ("2026-12-02T06:00:00Z", True),
])
def test_a_month_s_usage_says_when_it_is_final(metering, now, final):
    import datetime

    from route_counter.handler.store.dynamo import create_client
    from route_counter.handler.store.queries import usage_month
    from tests.conftest import METER

    t = datetime.datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp()
    found = usage_month(create_client(retries=True), METER, "2026-11", t)
    assert (found["final"], found["finalAt"]) == (final, "2026-12-02T06:00:00.000Z")
    assert usage_month(create_client(retries=True), METER, "2026-12", t)["finalAt"] == "2027-01-02T06:00:00.000Z"


def test_the_cli_says_a_month_is_not_final(metering, capsys):
    from route_counter.cli.cli import main
    from tests.conftest import TABLE
    from tests.conftest import METER

    assert main(["--table", TABLE, "usage", "--month", "2026-11", "--format", "csv", "--meter-table", METER]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "month,consumer,route,requests,final"
    assert "2026-11 is not final until 2026-12-02T06:00:00.000Z" in captured.err


def test_the_metering_costs_in_the_docs_are_the_bench_s_formula():
    from bench import metering as bench

    text = (ROOT / "docs" / "metering.md").read_text()
    for shape, (lines, routes) in bench.SHAPES.items():
        found = bench.per_million(shape)
        row = (f"| {shape} | {lines:,} line{'s' if lines > 1 else ''}, {routes} route{'s' if routes > 1 else ''} | "
               f"${found['logs']:.2f} | ${found['lambda']:.2f} | ${found['dynamodb']:.2f} | **${found['total']:.2f}** |")
        assert row in text, row
    assert f"about {bench.own_log_bytes() / 1000:.1f}\n  KB a delivery" in text


def test_apis_metered_in_code_are_checked_as_the_meter_key_is():
    """RouteCounter(meter_log_groups=...): names known now (the counter refuses /NAME/...), groups later."""
    base = parse({"meter": "shop=/aws/apigateway/shop-prod"})
    given = base.with_meter_in_code(["billing"])
    assert given.metering and given.metered_names() == ["shop", "billing"]
    assert given.meter_sources("", {"billing": "/aws/apigateway/billing"}) == \
        "shop=/aws/apigateway/shop-prod,billing=/aws/apigateway/billing"
    for bad in (["shop"], ["Billing"], ["a", "a"], ["_counts"], ["hello"]):
        with pytest.raises(SettingsError, match="meter_log_groups"):
            base.with_meter_in_code(bad)
    assert not parse({}).metering and parse({}).with_meter_in_code(["x"]).metering


@dataclasses.dataclass
class MissingGroups(Recorder):
    """aws.cloudwatch.get_log_group as the provider answers it for a group that does not exist."""

    def call(self, args):
        if args.token == "aws:cloudwatch/getLogGroup:getLogGroup":  # the invoke fails, as the provider's does
            return {}, [("name", f"reading CloudWatch Logs Log Group ({args.args['name']}): couldn't find resource")]
        return super().call(args)


def test_a_metered_group_that_does_not_exist_stops_the_preview_in_one_line():
    """Not the engine's 40-line traceback: the source, the group and what to do, as one RunError."""

    @pulumi.runtime.test
    def program():
        run_program(recorder=MissingGroups(), meter=f"shop={SHOP}")

    with pytest.raises(pulumi.RunError) as stopped:
        program()
    message = str(stopped.value)
    assert message.startswith(f"meter: the log group {SHOP} metered as shop does not exist") and "\n" not in message
