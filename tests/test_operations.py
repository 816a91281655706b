"""Running it in production, under Pulumi's mocks: the CloudWatch dashboard, tags on every resource, and
the opt-in guards (API key, WAF, budget), each checked with its option on and off."""

from __future__ import annotations

import importlib
import inspect
import json

import pulumi
import pytest

from route_counter.handler.web import metrics as own
from route_counter.infra import component as rc
from route_counter.infra import dashboard
from tests.aws_shapes import REGION
from tests.stack import run_program
from tests.test_infra import FUNCTION, RESTAPI, api_document, check

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
WAF, WAF_ASSOCIATION = "aws:wafv2/webAcl:WebAcl", "aws:wafv2/webAclAssociation:WebAclAssociation"
BUDGET = "aws:budgets/budget:Budget"
API_KEY, USAGE_PLAN, PLAN_KEY = ("aws:apigateway/apiKey:ApiKey", "aws:apigateway/usagePlan:UsagePlan",
                                 "aws:apigateway/usagePlanKey:UsagePlanKey")
STATS = {"Sum", "Average", "Maximum", "Minimum", "SampleCount", "p50", "p90", "p99"}


def resource_class(type_token: str):
    """The pulumi_aws class of a type token: aws:lambda/function:Function -> pulumi_aws.lambda_.Function."""
    _, module, name = type_token.split(":")
    package = module.split("/")[0]
    return getattr(importlib.import_module(f"pulumi_aws.{package}_" if package == "lambda" else f"pulumi_aws.{package}"), name)


def takes_tags(type_token: str) -> bool:
    return "tags" in inspect.signature(resource_class(type_token)._internal_init).parameters


@pulumi.runtime.test
def test_every_dashboard_widget_names_a_real_metric_of_these_resources():
    def assertions(recorder, component):
        (board,) = recorder.of_type(DASHBOARD)
        body = json.loads(board.inputs["dashboardBody"])
        names = {
            ("AWS/ApiGateway", "ApiName"): recorder.resources["route-counter-api"].inputs.get("name", "route-counter-api-1a2b3c4"),
            ("AWS/ApiGateway", "Stage"): "v1",
            ("AWS/Lambda", "FunctionName"): {"route-counter-counter-1a2b3c4", "route-counter-listing-1a2b3c4"},
            ("AWS/DynamoDB", "TableName"): "route-counter-table-1a2b3c4",
            ("AWS/DynamoDB", "Operation"): {"UpdateItem", "Scan", "GetItem"},
            (own.NAMESPACE, own.DIMENSION): "route-counter-counter-1a2b3c4",
        }
        seen = set()
        for widget in body["widgets"]:
            props = widget["properties"]
            assert props["region"] == REGION and props["title"]
            for metric in props["metrics"]:
                namespace, name, *rest = metric
                options = rest.pop()
                dims = dict(zip(rest[::2], rest[1::2], strict=True))
                assert tuple(dims) in dashboard.METRIC_DIMENSIONS[(namespace, name)], (namespace, name, dims)
                assert options["stat"] in STATS
                for key, value in dims.items():
                    expected = names[(namespace, key)]
                    assert value in expected if isinstance(expected, set) else value == expected, (key, value)
                seen.add((namespace, name))
        # What the issue asks the dashboard to show, all of it.
        wanted = {("AWS/ApiGateway", m) for m in ("Count", "Latency", "4XXError", "5XXError")} | {
            ("AWS/Lambda", m) for m in ("Invocations", "Duration", "Errors", "Throttles", "ConcurrentExecutions")} | {
            ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"), ("AWS/DynamoDB", "ThrottledRequests")} | {
            (own.NAMESPACE, m) for m in own.METRICS}
        assert wanted <= seen
        assert board.inputs["dashboardName"] == f"route-counter-dev-{REGION}"

    return check(run_program(), assertions)


def test_the_metric_table_is_not_vacuous():
    assert ("FunctionName",) not in dashboard.METRIC_DIMENSIONS[("AWS/DynamoDB", "ThrottledRequests")]
    assert ("TableName",) not in dashboard.METRIC_DIMENSIONS[("AWS/DynamoDB", "ThrottledRequests")]  # needs Operation


@pytest.mark.parametrize("options", [{}, {"tags": "team=web,cost-center=42", "downloads": "/cv.pdf=tests/files/resume.pdf",
                                          "countsAccess": "apiKey", "wafRateLimit": 500, "monthlyBudget": 10,
                                          "alarmEmail": "ops@example.com", "accessLogs": True}])
@pulumi.runtime.test
def test_every_resource_that_takes_tags_carries_the_stacks(options, monkeypatch):
    from tests.stack import ROOT

    monkeypatch.chdir(ROOT)

    def assertions(recorder, _):
        tagged = [r for r in recorder.resources.values() if r.type.startswith("aws:") and takes_tags(r.type)]
        assert len(tagged) >= 10
        expected = {"pulumi:project": "route-counter", "pulumi:stack": "dev"}
        if options:
            expected.update({"team": "web", "cost-center": "42"})
        for r in tagged:
            assert r.inputs.get("tags") == expected, r.name
        untagged = {r.type for r in recorder.resources.values() if r.type.startswith("aws:") and not takes_tags(r.type)}
        assert "aws:lambda/permission:Permission" in untagged  # the check does tell the two kinds apart

    return check(run_program(**options), assertions)


@pulumi.runtime.test
def test_by_default_no_waf_no_budget_no_api_key_and_the_listing_is_public():
    def assertions(recorder, component):
        for kind in (WAF, WAF_ASSOCIATION, BUDGET, API_KEY, USAGE_PLAN, PLAN_KEY):
            assert recorder.of_type(kind) == [], kind
        assert rc.OUTPUT_COUNTS_API_KEY not in component.outputs
        document = api_document(recorder)
        assert "components" not in document
        assert not any("security" in op for path in document["paths"].values() for op in path.values())

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_waf_rate_rule_is_associated_with_the_stage():
    def assertions(recorder, component):
        (acl,) = recorder.of_type(WAF)
        assert acl.inputs["scope"] == "REGIONAL" and "allow" in acl.inputs["defaultAction"]
        (rule,) = acl.inputs["rules"]
        rate = rule["statement"]["rateBasedStatement"]
        assert (rate["limit"], rate["aggregateKeyType"], rate["evaluationWindowSec"]) == (2000, "IP", 300)
        block = rule["action"]["block"]["customResponse"]
        assert block["responseCode"] == 429
        (body,) = acl.inputs["customResponseBodies"]
        assert json.loads(body["content"])["error"] == "rate_limited"
        (association,) = recorder.of_type(WAF_ASSOCIATION)
        return pulumi.Output.all(component.stage.arn, component.waf.acl.arn).apply(
            lambda arns: (association.inputs["resourceArn"], association.inputs["webAclArn"]) == tuple(arns)
            or pytest.fail(str(arns)))

    return check(run_program(wafRateLimit=2000), assertions)


@pulumi.runtime.test
def test_budget_is_scoped_to_the_stacks_tag_and_alerts_at_80_and_100_percent():
    def assertions(recorder, _):
        (budget,) = recorder.of_type(BUDGET)
        inputs = budget.inputs
        assert (inputs["budgetType"], inputs["limitAmount"], inputs["limitUnit"], inputs["timeUnit"]) == (
            "COST", "25", "USD", "MONTHLY")
        assert inputs["costFilters"] == [{"name": "TagKeyValue", "values": ["user:pulumi:stack$dev"]}]
        notes = inputs["notifications"]
        assert sorted(n["threshold"] for n in notes) == [80, 100]
        assert all(n["subscriberEmailAddresses"] == ["ops@example.com"] and n["notificationType"] == "ACTUAL"
                   for n in notes)

    return check(run_program(monthlyBudget=25, alarmEmail="ops@example.com"), assertions)


@pulumi.runtime.test
def test_api_key_guards_the_listing_but_not_badges_the_page_or_preflights():
    def assertions(recorder, component):
        document = api_document(recorder)
        assert document["components"]["securitySchemes"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
        assert document["x-amazon-apigateway-api-key-source"] == "HEADER"
        paths = document["paths"]
        for path in ("/_counts", "/_counts/{proxy+}"):
            assert all(paths[path][m]["security"] == [{"api_key": []}] for m in ("get", "head", "x-amazon-apigateway-any-method"))
            assert "security" not in paths[path]["options"]
        for path in ("/_counts/badge", "/_counts/dashboard", "/", "/{proxy+}"):
            assert not any("security" in op for op in paths[path].values()), path
        (plan,) = recorder.of_type(USAGE_PLAN)
        assert plan.inputs["apiStages"] == [{"apiId": "route-counter-api-id", "stage": "v1"}]
        (plan_key,) = recorder.of_type(PLAN_KEY)
        assert plan_key.inputs["keyType"] == "API_KEY"
        secret = component.outputs[rc.OUTPUT_COUNTS_API_KEY]
        return pulumi.Output.all(secret, pulumi.Output.is_secret(secret)).apply(
            lambda v: v == ["mock-api-key-0123456789abcdefghij", True] or pytest.fail(str(v)))

    return check(run_program(countsAccess="apiKey"), assertions)


@pulumi.runtime.test
def test_iam_access_needs_signed_requests_and_creates_no_key():
    def assertions(recorder, component):
        document = api_document(recorder)
        assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
        assert document["paths"]["/_counts"]["get"]["security"] == [{"sigv4": []}]
        assert recorder.of_type(API_KEY) == [] and rc.OUTPUT_COUNTS_API_KEY not in component.outputs
        assert recorder.of_type(RESTAPI) and recorder.of_type(FUNCTION)

    return check(run_program(countsAccess="iam"), assertions)


def test_dashboard_names_take_only_what_cloudwatch_accepts_and_differ_per_region():
    from route_counter.infra.observability import dashboard_name

    assert dashboard_name("route-counter", "prod.eu", "eu-west-1") == "route-counter-prod-eu-eu-west-1"
    assert dashboard_name("route-counter", "dev", "us-east-1") != dashboard_name("route-counter", "dev", "us-west-2")


@pulumi.runtime.test
def test_the_dashboard_is_named_for_the_stacks_region():
    def assertions(recorder, _):
        (board,) = recorder.of_type(DASHBOARD)
        assert board.inputs["dashboardName"] == f"route-counter-dev-{REGION}"

    return check(run_program(), assertions)


@pulumi.runtime.test
@pytest.mark.parametrize(("origins", "headers"), [
    ("*", [{"name": "Access-Control-Allow-Origin", "value": "*"}]),
    ("https://me.example", [{"name": "Access-Control-Allow-Origin", "value": "https://me.example"},
                            {"name": "Vary", "value": "Origin"}]),
])
def test_wafs_429_carries_the_stages_cors_and_its_metrics_name_the_stack(origins, headers):
    def assertions(recorder, _):
        (acl,) = recorder.of_type(WAF)
        (rule,) = acl.inputs["rules"]
        assert rule["action"]["block"]["customResponse"]["responseHeaders"] == headers
        names = [rule["visibilityConfig"]["metricName"], acl.inputs["visibilityConfig"]["metricName"]]
        assert names == ["route-counter-dev-rate-per-ip", "route-counter-dev-waf"]

    return check(run_program(wafRateLimit=100, corsOrigins=origins), assertions)


def test_wafs_metric_names_keep_two_stacks_apart():
    from route_counter.infra.guards import waf_metric_name

    assert waf_metric_name("route-counter", "prod.eu", "waf") == "route-counter-prod-eu-waf"
    assert waf_metric_name("route-counter", "a", "waf") != waf_metric_name("route-counter", "b", "waf")


@pulumi.runtime.test
def test_the_api_gateway_logs_role_is_set_on_the_account_before_the_stage_logs():
    def assertions(recorder, component):
        (account,) = recorder.of_type("aws:apigateway/account:Account")
        role = recorder.resources["route-counter-apigateway-logs"]
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}]
        (attachment,) = recorder.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        assert attachment.inputs["policyArn"] == (
            "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
        assert account.inputs["cloudwatchRoleArn"].startswith("arn:aws:iam::")
        assert component.logs_role is not None

    return check(run_program(accessLogs=True, apiGatewayLogsRole=True), assertions)


@pulumi.runtime.test
def test_without_the_opt_in_no_account_setting_is_touched():
    def assertions(recorder, _):
        assert recorder.of_type("aws:apigateway/account:Account") == []

    return check(run_program(accessLogs=True), assertions)


@pulumi.runtime.test
def test_traffic_alerts_watch_the_counters_hits_and_go_to_the_alarm_topic():
    def assertions(recorder, component):
        alarms = {a.name: a.inputs for a in recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        spike, anomaly = alarms["route-counter-traffic"], alarms["route-counter-traffic-anomaly"]
        assert (spike["namespace"], spike["metricName"], spike["statistic"], spike["period"]) == (own.NAMESPACE, own.HITS, "Sum", 300)
        assert spike["threshold"] == 500 and spike["comparisonOperator"] == "GreaterThanThreshold"
        assert spike["dimensions"] == {own.DIMENSION: "route-counter-counter-1a2b3c4"}  # the counter's EMF dimension
        queries = {q["id"]: q for q in anomaly["metricQueries"]}
        assert queries["band"]["expression"] == "ANOMALY_DETECTION_BAND(hits, 2)" and queries["band"]["returnData"]
        assert queries["hits"]["metric"]["metricName"] == own.HITS and queries["hits"]["returnData"]
        assert anomaly["thresholdMetricId"] == "band" and anomaly["comparisonOperator"] == "GreaterThanUpperThreshold"
        return pulumi.Output.all(component.observability.topic.arn).apply(
            lambda arns: all(a["alarmActions"] == arns for a in (spike, anomaly)) or pytest.fail(str(arns)))

    return check(run_program(trafficAlarm=500, trafficAnomaly=True, alarmEmail="ops@example.com"), assertions)


@pulumi.runtime.test
def test_no_traffic_alert_unless_asked():
    def assertions(recorder, component):
        names = {a.name for a in recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        assert len(names) == 4 and not any("traffic" in n for n in names) and component.observability.traffic == []

    return check(run_program(), assertions)


@pytest.mark.parametrize("key", ["trafficAlarm", "trafficAnomaly"])
def test_a_traffic_alert_needs_someone_to_tell(key):
    from route_counter.infra.settings import SettingsError, parse

    with pytest.raises(SettingsError, match=f"{key} needs alarmEmail"):
        parse({key: "100" if key == "trafficAlarm" else "true"})
