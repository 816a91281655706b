"""The Pulumi program under Pulumi's mock runtime: what a reviewer of the stack would check.

Every test runs the real __main__.py with the dev stack's config (Pulumi.yaml defaults + Pulumi.dev.yaml)
and returns the Output whose apply holds the assertions, so the checks really run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pulumi
import pytest

from route_counter.handler.rules import schema, settings as env
from route_counter.infra import asset
from route_counter.infra import component as rc
from route_counter.infra import metering, openapi, policies
from route_counter.infra.settings import SettingsError, defaults, parse
from tests.aws_shapes import ACCOUNT, REGION
from tests.stack import AUTONAME_SUFFIX, ROOT, Recorder, everything, run_program

RESTAPI = "aws:apigateway/restApi:RestApi"
METHOD, INTEGRATION = "aws:apigateway/method:Method", "aws:apigateway/integration:Integration"
RESOURCE = "aws:apigateway/resource:Resource"
FUNCTION, PERMISSION = "aws:lambda/function:Function", "aws:lambda/permission:Permission"
POLICY, ROLE = "aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role"


def check(program_and_recorder, assertions):
    recorder, program = program_and_recorder
    return everything(program["route_counter"]).apply(lambda _: assertions(recorder, program["route_counter"]))


def api_document(recorder):
    """The OpenAPI document the RestApi imports: what the stage serves."""
    return json.loads(recorder.resources["route-counter-api"].inputs["body"])


def routes(recorder):
    """{(path, method): (function name, integration type, integration method)} from the API document."""
    table = {}
    for path, methods in api_document(recorder)["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            function_arn = integration["uri"].split("/functions/")[1].removesuffix("/invocations")
            key = (path, "ANY" if method == openapi.ANY_METHOD else method.upper())
            table[key] = (function_arn.rsplit(":", 1)[-1], integration["type"], integration["httpMethod"])
    return table


COUNTER_FN, LISTING_FN = f"route-counter-counter-{AUTONAME_SUFFIX}", f"route-counter-listing-{AUTONAME_SUFFIX}"


@pulumi.runtime.test
def test_root_and_proxy_go_to_the_counter_and_the_listing_path_to_the_listing_only():
    def assertions(recorder, _):
        table = routes(recorder)
        assert table[("/", "ANY")] == (COUNTER_FN, "aws_proxy", "POST")
        assert table[("/{proxy+}", "ANY")] == (COUNTER_FN, "aws_proxy", "POST")
        for path in ("/_counts", "/_counts/{proxy+}"):
            for method in ("GET", "HEAD", "OPTIONS", "ANY"):
                assert table[(path, method)] == (LISTING_FN, "aws_proxy", "POST"), (path, method)
        listing_paths = {path for path, _ in table if path.startswith("/_counts")}
        assert all(table[key][0] == LISTING_FN for key in table if key[0] in listing_paths)
        assert len(table) == 10
        for path, methods in api_document(recorder)["paths"].items():  # {proxy+} is a declared path parameter
            for operation in methods.values():
                assert ("parameters" in operation) == path.endswith("{proxy+}"), path
                assert "security" not in operation  # public: no authorizer, no API key
        assert len(recorder.of_type(RESTAPI)) == 1  # a REST API, not an HTTP API
        assert recorder.of_type("aws:apigatewayv2/api:Api") == []
        # No separately managed routes: they would outlive a removal (pulumi-aws#3289).
        assert recorder.of_type(METHOD) == recorder.of_type(INTEGRATION) == recorder.of_type(RESOURCE) == []

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_counts_path_is_configurable():
    def assertions(recorder, rc_):
        assert ("/stats", "GET") in routes(recorder) and ("/_counts", "GET") not in routes(recorder)
        return rc_.counts_url.apply(lambda url: url.endswith("/v1/stats") or pytest.fail(url))

    return check(run_program(countsPath="stats"), assertions)


def deployment_trigger(recorder=None, **overrides):
    recorder, program = run_program(recorder=recorder, **overrides)
    return everything(program["route_counter"]).apply(
        lambda _: recorder.resources["route-counter-deployment"].inputs["triggers"]["redeployment"]
    )


@pulumi.runtime.test
def test_deployment_trigger_is_the_hash_of_the_document_the_api_imports():
    def assertions(recorder, _):
        api = recorder.resources["route-counter-api"].inputs
        deployment = recorder.resources["route-counter-deployment"].inputs
        assert deployment["triggers"]["redeployment"] == hashlib.sha256(api["body"].encode()).hexdigest()
        assert deployment["restApi"] == "route-counter-api-id"  # ordered after the API's import
        assert api["putRestApiMode"] == "overwrite"

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_renaming_counts_path_leaves_no_trace_of_the_old_path():
    """What is deployed is the document: after a rename, nothing routes, grants or names the old path."""
    def assertions(recorder, component):
        document = recorder.resources["route-counter-api"].inputs["body"]
        assert "_counts" not in document
        assert set(api_document(recorder)["paths"]) == {"/", "/{proxy+}", "/stats", "/stats/{proxy+}"}
        for permission in recorder.of_type(PERMISSION):
            assert "_counts" not in permission.inputs["sourceArn"]
        for fn in recorder.of_type(FUNCTION):
            assert fn.inputs["environment"]["variables"].get("COUNTS_PATH", "stats") == "stats"
        assert "_counts" not in recorder.resources["route-counter-api"].inputs["description"]
        return component.counts_url.apply(lambda url: url.endswith("/v1/stats") or pytest.fail(url))

    return check(run_program(countsPath="stats"), assertions)


@pulumi.runtime.test
def test_deployment_triggers_change_with_the_api_definition():
    base = deployment_trigger()
    same = deployment_trigger()
    moved = deployment_trigger(countsPath="stats")

    def assertions(values):
        base_hash, same_hash, moved_hash = values
        assert base_hash == same_hash  # deterministic: no redeploy without a change
        assert base_hash != moved_hash  # a route change redeploys the stage

    return pulumi.Output.all(base, same, moved).apply(assertions)


@pulumi.runtime.test
def test_deployment_triggers_change_when_an_integration_target_changes():
    base = deployment_trigger()
    # A replaced function has a new invoke ARN, so every integration pointing at it changes.
    retargeted = deployment_trigger(recorder=Recorder(function_generation=2))
    return pulumi.Output.all(base, retargeted).apply(lambda v: v[0] != v[1] or pytest.fail("no redeploy"))


@pulumi.runtime.test
def test_stage_points_at_the_deployment_with_throttling_and_metrics():
    def assertions(recorder, _):
        stage = recorder.resources["route-counter-stage"]
        assert stage.inputs["deployment"] == "route-counter-deployment-id"
        assert stage.inputs["stageName"] == "v1"
        settings = recorder.resources["route-counter-method-settings"].inputs
        assert settings["methodPath"] == "*/*"
        assert settings["settings"]["metricsEnabled"] is False  # detailedMetrics: off unless asked (billed)
        assert settings["settings"]["throttlingRateLimit"] == 20  # Pulumi.dev.yaml
        assert settings["settings"]["throttlingBurstLimit"] == 40
        assert "accessLogSettings" not in stage.inputs and stage.inputs["xrayTracingEnabled"] is False

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_permissions_are_scoped_to_this_api_stage_and_path():
    def assertions(recorder, _):
        execution = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:route-counter-api-id/v1"
        perms = {p.name: p.inputs for p in recorder.of_type(PERMISSION)}
        assert {name: p["sourceArn"] for name, p in perms.items()} == {
            "route-counter-counter-root-permission": f"{execution}/*/",
            "route-counter-counter-proxy-permission": f"{execution}/*/*",
            "route-counter-listing-permission": f"{execution}/*/_counts",
            "route-counter-listing-proxy-permission": f"{execution}/*/_counts/*",
        }
        assert all(p["principal"] == "apigateway.amazonaws.com" and p["action"] == "lambda:InvokeFunction" for p in perms.values())

    return check(run_program(), assertions)


def policy_documents(recorder):
    return {p.name: json.loads(p.inputs["policy"]) for p in recorder.of_type(POLICY)}


def statements(document):
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        yield statement, actions, resources


@pulumi.runtime.test
def test_iam_is_least_privilege_with_no_wildcards():
    def assertions(recorder, _):
        docs = policy_documents(recorder)
        table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/route-counter-table-{AUTONAME_SUFFIX}"
        expected = {"route-counter-counter-policy": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                    "route-counter-listing-policy": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Scan"]}
        assert set(docs) == set(expected)
        for name, doc in docs.items():
            role = name.removesuffix("-policy")
            own_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{role}-{AUTONAME_SUFFIX}"
            granted = {}
            for statement, actions, resources in statements(doc):
                assert statement["Effect"] == "Allow"
                for action in actions:
                    assert "*" not in action, action
                    granted.setdefault(action, set()).update(resources)
                for resource in resources:
                    assert resource != "*" and not resource.endswith(":*:*"), resource
            dynamo = sorted(a for a in granted if a.startswith("dynamodb:"))
            assert dynamo == expected[name]
            assert all(granted[a] == {table_arn} for a in dynamo)
            assert granted["logs:CreateLogStream"] == granted["logs:PutLogEvents"] == {own_group, f"{own_group}:log-stream:*"}
            assert set(granted) == set(dynamo) | {"logs:CreateLogStream", "logs:PutLogEvents"}
        roles = recorder.of_type(ROLE)
        assert len(roles) == 2 and all("managedPolicyArns" not in r.inputs for r in roles)
        for role in roles:
            trust = json.loads(role.inputs["assumeRolePolicy"])
            assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_xray_permissions_only_with_tracing():
    def assertions(recorder, _):
        for doc in policy_documents(recorder).values():
            wildcard = [(a, r) for s, a, r in statements(doc) if "*" in r]
            assert wildcard == [(list(policies.XRAY_ACTIONS), ["*"])]  # AWS allows no narrower resource here
        assert all(f.inputs["tracingConfig"] == {"mode": "Active"} for f in recorder.of_type(FUNCTION))
        assert recorder.resources["route-counter-stage"].inputs["xrayTracingEnabled"] is True

    return check(run_program(tracing=True), assertions)


@pulumi.runtime.test
def test_table_schema_billing_pitr_and_protection_by_default():
    recorder, program = run_program("dev", protectData=True)

    def assertions(recorder, component):
        table = recorder.resources["route-counter-table"].inputs
        assert table["hashKey"] == schema.KEY
        assert table["attributes"] == [{"name": schema.KEY, "type": schema.KEY_TYPE}]
        assert table["billingMode"] == "PAY_PER_REQUEST"
        assert table["pointInTimeRecovery"] == {"enabled": True}
        assert table["serverSideEncryption"] == {"enabled": True}
        assert table["deletionProtectionEnabled"] is True
        assert component.table._protect is True

    return check((recorder, program), assertions)


@pulumi.runtime.test
def test_dev_stack_can_be_torn_down():
    def assertions(recorder, component):
        assert recorder.resources["route-counter-table"].inputs["deletionProtectionEnabled"] is False
        assert not component.table._protect

    return check(run_program(), assertions)


def test_protect_data_defaults_to_true():
    assert defaults()["protectData"] is True


@pulumi.runtime.test
def test_functions_runtime_logging_and_environment():
    def assertions(recorder, _):
        fns = {f.name: f.inputs for f in recorder.of_type(FUNCTION)}
        assert set(fns) == {"route-counter-counter", "route-counter-listing"}
        assert fns["route-counter-counter"]["handler"] == rc.COUNTER_HANDLER == "handler.counter.handler"
        assert fns["route-counter-listing"]["handler"] == rc.LISTING_HANDLER == "handler.listing.handler"
        assert fns["route-counter-counter"]["memorySize"] == 256 and fns["route-counter-listing"]["memorySize"] == 1024
        for name, fn in fns.items():
            assert fn["runtime"] == "python3.13" and fn["architectures"] == ["arm64"]
            assert fn["timeout"] <= 10
            # INFO on the counter lets its EMF metrics line through Lambda's log-level filter.
            level = "INFO" if name == "route-counter-counter" else "WARN"
            assert fn["loggingConfig"]["logFormat"] == "JSON" and fn["loggingConfig"]["applicationLogLevel"] == level
            assert fn["loggingConfig"]["systemLogLevel"] == "INFO"  # keeps START/REPORT lines
            assert fn["loggingConfig"]["logGroup"].startswith(f"/aws/lambda/{name}-")
            variables = fn["environment"]["variables"]
            # exactly what each handler reads: the listing never gets the visitor secret, the writer or limits
            assert set(variables) == set(env.FUNCTION_VARIABLES[name.removeprefix("route-counter-")])
            assert variables[env.COUNTS_PATH] == "_counts"
            assert variables[env.TABLE_NAME].startswith("route-counter-table")
            assert variables[env.MAX_ROUTE_BYTES] == "1024" and variables[env.CORS_ORIGINS] == "*"
        # A new account's concurrency quota (10) refuses any reservation: none by default.
        assert all("reservedConcurrentExecutions" not in fn for fn in fns.values())
        groups = {g.name: g.inputs for g in recorder.of_type("aws:cloudwatch/logGroup:LogGroup")}
        assert all(g["retentionInDays"] == 7 for g in groups.values())

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_config_reaches_the_functions():
    def assertions(recorder, _):
        fns = {f.name: f.inputs for f in recorder.of_type(FUNCTION)}
        counter = fns["route-counter-counter"]
        assert counter["architectures"] == ["x86_64"] and counter["memorySize"] == 512
        assert counter["reservedConcurrentExecutions"] == 5
        assert "reservedConcurrentExecutions" not in fns["route-counter-listing"]  # 0: none reserved
        assert counter["environment"]["variables"][env.ROUTE_TEMPLATES] == "/users/{id}"
        assert counter["environment"]["variables"][env.CORS_ORIGINS] == "https://site.example"

    return check(run_program(architecture="x86_64", memorySize=512, reservedConcurrency=5, listingReservedConcurrency=0,
                             routeTemplates="/users/{id}", corsOrigins="https://site.example"), assertions)


@pulumi.runtime.test
@pytest.mark.parametrize(("endpoint_type", "countries"), [("REGIONAL", "false"), ("EDGE", "true")])
def test_endpoint_type_decides_whether_countries_are_counted(endpoint_type, countries):
    """Only API Gateway's edge network sets CloudFront-Viewer-Country; on REGIONAL anyone could send it."""
    def assertions(recorder, _):
        (api,) = recorder.of_type(RESTAPI)
        assert api.inputs["endpointConfiguration"]["types"] == endpoint_type
        fns = {f.name: f.inputs["environment"]["variables"] for f in recorder.of_type(FUNCTION)}
        assert fns["route-counter-counter"][env.COUNT_COUNTRIES] == countries
        assert fns["route-counter-counter"][env.RATE_LIMITS] == "/login=5/1m,/api/*=1000/1h"

    return check(run_program(endpointType=endpoint_type, rateLimits="/login=5/1m,/api/*=1000/1h"), assertions)


@pulumi.runtime.test
def test_code_asset_holds_only_the_handler_package():
    def assertions(recorder, _):
        assets = [f.inputs["code"].assets for f in recorder.of_type(FUNCTION)]
        assert assets[0].keys() == assets[1].keys()  # one code asset for both functions
        names = sorted(assets[0])
        assert names == sorted(asset.asset_files())
        handler = [n for n in names if n.startswith("handler/")]
        assert handler == sorted(asset.handler_files()) and all(n.endswith(".py") for n in handler)
        assert "handler/counter.py" in names and "handler/listing.py" in names
        # Besides handler/, exactly the pinned crawler list (requirements-lambda.txt) and its license.
        assert set(names) - set(handler) == {"crawleruseragents/__init__.py", "crawleruseragents/crawler-user-agents.json",
                                             "crawler_user_agents-1.67.0.dist-info/LICENSE"}
        assert not any("test" in n or "__pycache__" in n or "boto" in n for n in names)

    return check(run_program(), assertions)


def test_handler_strings_resolve_to_callables_taking_event_and_context(tmp_path):
    """As Lambda resolves them: in the unzipped asset, where the package is `handler`, not route_counter's."""
    for name, source in asset.asset_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(source.read_bytes())
    probe = ("import importlib, inspect, json, sys\n"
             "found = {}\n"
             "for string in sys.argv[1:]:\n"
             "    module, _, attr = string.rpartition('.')\n"
             "    fn = getattr(importlib.import_module(module), attr)\n"
             "    found[string] = [callable(fn), list(inspect.signature(fn).parameters), fn.__module__]\n"
             "print(json.dumps(found))")
    strings = [rc.COUNTER_HANDLER, rc.LISTING_HANDLER, metering.METER_HANDLER]
    done = subprocess.run([sys.executable, "-c", probe, *strings], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    for string in strings:
        assert found[string][:2] == [True, ["event", "context"]], string
        assert found[string][2] == string.rpartition(".")[0]  # the zip's module, not the library's


def test_handler_package_imports_nothing_outside_the_lambda_runtime():
    """The asset ships handler/ and the pinned crawler list, so it may import only the standard library,
    botocore, itself and that."""
    import ast
    import sys

    for name, path in asset.handler_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    top = module.split(".")[0]
                    shipped = ("botocore", "__future__", "crawleruseragents")  # the runtime's and the asset's
                    if isinstance(node, ast.ImportFrom) and node.level:  # ours, relatively (test_layers)
                        continue
                    assert top in sys.stdlib_module_names or top in shipped, (name, module)


@pulumi.runtime.test
def test_alarms_are_rates_with_a_minimum_volume():
    def assertions(recorder, _):
        alarms = {a.name: a.inputs for a in recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        assert set(alarms) == {"route-counter-api-5xx-rate", "route-counter-counter-error-rate",
                               "route-counter-counter-throttle-rate", "route-counter-table-throttle-rate"}
        topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:route-counter-alarms-{AUTONAME_SUFFIX}"
        for name, alarm in alarms.items():
            assert alarm["alarmActions"] == [topic_arn], name
            assert "metricName" not in alarm  # not a single metric: a rate
            queries = {q["id"]: q for q in alarm["metricQueries"]}
            assert [q["id"] for q in alarm["metricQueries"] if q.get("returnData")] == ["rate"]
            expression = queries["rate"]["expression"]
            assert expression.startswith("IF(") and ">= 20" in expression, expression  # minimum volume
            assert 0 < alarm["threshold"] <= 5 and alarm["datapointsToAlarm"] == 2 and alarm["evaluationPeriods"] == 3
        metrics = {name: {q["id"]: (q["metric"]["namespace"], q["metric"]["metricName"]) for q in a["metricQueries"] if "metric" in q}
                   for name, a in alarms.items()}
        assert metrics["route-counter-api-5xx-rate"] == {"bad": ("AWS/ApiGateway", "5XXError"), "volume": ("AWS/ApiGateway", "Count")}
        assert metrics["route-counter-counter-error-rate"] == {"bad": ("AWS/Lambda", "Errors"), "volume": ("AWS/Lambda", "Invocations")}
        assert metrics["route-counter-table-throttle-rate"]["bad"] == ("AWS/DynamoDB", "ThrottledRequests")
        assert recorder.of_type("aws:sns/topicSubscription:TopicSubscription") == []

    return check(run_program(), assertions)


def test_one_deliberate_503_does_not_trip_an_alarm():
    """The expressions evaluated as CloudWatch would, on a quiet period with one 503 and a busy bad one."""
    from route_counter.infra.alarms import SPECS

    api = SPECS["api"]

    def rate(bad: float, volume: float) -> float:
        return eval(api.expression().replace("IF(", "_if("), {"_if": lambda c, a, b: a if c else b, "bad": bad, "volume": volume})

    assert rate(bad=1, volume=3) == 0  # a lone 503 on a quiet site: below the minimum volume
    assert rate(bad=1, volume=100) <= api.threshold  # 1 % of a busy period
    assert rate(bad=20, volume=100) > api.threshold  # a real outage


@pulumi.runtime.test
def test_alarm_email_subscribes_to_the_topic():
    def assertions(recorder, _):
        [sub] = recorder.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert sub.inputs["protocol"] == "email" and sub.inputs["endpoint"] == "ops@example.com"

    return check(run_program(alarmEmail="ops@example.com"), assertions)


HOSTILE_MESSAGE = 'Execution failed: "quoted" \\ back\nslash\tand a line break'


def render_access_log(template: str) -> dict:
    """A log line as API Gateway writes it for a failed request: each $context variable replaced by its
    value, $context.error.messageString by the message already quoted and escaped (API Gateway Developer
    Guide, "$context variables for access logging")."""
    values = {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "httpMethod": "GET", "path": "/v1/a/b",
              "status": "502", "responseLatency": "31", "integrationLatency": "29", "identity.sourceIp": "203.0.113.9",
              "error.message": HOSTILE_MESSAGE, "error.messageString": json.dumps(HOSTILE_MESSAGE)}
    return json.loads(re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values[m[1]], template))


@pulumi.runtime.test
def test_access_logs_when_enabled():
    def assertions(recorder, _):
        stage = recorder.resources["route-counter-stage"].inputs
        assert stage["accessLogSettings"]["destinationArn"].endswith(f"log-group:route-counter-access-logs-{AUTONAME_SUFFIX}")
        line = render_access_log(stage["accessLogSettings"]["format"])
        assert line["error"] == HOSTILE_MESSAGE and line["status"] == "502"  # one JSON line, whatever the message
        assert "ip" not in line and "203.0.113.9" not in json.dumps(line)  # docs/privacy.md: no source IPs
        assert recorder.resources["route-counter-method-settings"].inputs["settings"]["loggingLevel"] == "ERROR"

    return check(run_program(accessLogs=True), assertions)


@pulumi.runtime.test
def test_stack_outputs():
    recorder, program = run_program()

    def assertions(recorder, component):
        assert set(component.outputs) == {rc.OUTPUT_URL, rc.OUTPUT_COUNTS_URL, rc.OUTPUT_TABLE_NAME,
                                          rc.OUTPUT_COUNTER_FUNCTION, rc.OUTPUT_LISTING_FUNCTION, rc.OUTPUT_DASHBOARD_URL}
        assert rc.OUTPUT_DASHBOARD_URL == "dashboard_url"
        assert (rc.OUTPUT_URL, rc.OUTPUT_COUNTS_URL) == ("url", "counts_url")
        assert (rc.OUTPUT_TABLE_NAME, rc.OUTPUT_COUNTER_FUNCTION, rc.OUTPUT_LISTING_FUNCTION) == (
            "table_name", "counter_function_name", "listing_function_name")
        return pulumi.Output.all(component.url, component.counts_url, component.dashboard_url).apply(
            lambda urls: urls == ["https://route-counter-api-id.execute-api.us-east-1.amazonaws.com/v1",
                                  "https://route-counter-api-id.execute-api.us-east-1.amazonaws.com/v1/_counts",
                                  "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                                  "#dashboards/dashboard/route-counter-dev-us-east-1"]
            or pytest.fail(str(urls))
        )

    return check((recorder, program), assertions)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("maxRouteBytes", "4096", "maxRouteBytes must be an integer from 1 to 2048"),
        ("memorySize", "64", "memorySize must be an integer from 128 to 10240"),
        ("architecture", "arm", "architecture must be arm64 or x86_64"),
        ("logRetentionDays", "8", "logRetentionDays must be one of"),
        ("throttleRateLimit", "fast", "throttleRateLimit must be an integer"),
        ("reservedConcurrency", "-1", "reservedConcurrency must be an integer from 0 to 1000"),
        ("listingMemorySize", "100", "listingMemorySize must be an integer from 128 to 10240"),
        ("systemLogLevel", "ERROR", "systemLogLevel must be DEBUG or INFO or WARN"),
        ("countsPath", "a~b", "what an API Gateway path part may hold"),
        ("countsPath", "..", "countsPath must be one path segment"),
        ("countsPath", "{x}", "letters, digits, '.', '_' or '-'"),
        ("protectData", "yes", "protectData must be true or false"),
        ("countsPath", "a/b", "countsPath must be one path segment"),
        ("stageName", "my stage", "stageName must be"),
        ("corsOrigins", "site.example", "corsOrigins must be * or comma-separated origins"),
        ("allowPrefixes", "api", "allowPrefixes: allowed prefix 'api' must start with '/'"),
        ("routeTemplates", "/users/{id", "routeTemplates:"),
        ("alarmEmail", "not-an-email", "alarmEmail must be an email address"),
        ("rateLimits", "/login=5/2m", "rateLimits: '/login=5/2m': the window must be one of 1s, 1m, 1h, 1d"),
        ("endpointType", "PRIVATE", "endpointType must be REGIONAL or EDGE"),
        ("wafRateLimit", "9", "wafRateLimit must be 0 (no WAF) or from 100"),
        ("wafRateLimit", "99", "pulumi-aws 7 refuses less than 100"),
        ("monthlyBudget", "10", "monthlyBudget needs alarmEmail"),
        ("apiGatewayLogsRole", "1", "apiGatewayLogsRole must be true or false"),
    ],
)
def test_config_validation_names_the_key_and_range(key, value, message):
    with pytest.raises(SettingsError) as err:
        parse({key: value})
    assert message in str(err.value)


def test_the_bounds_themselves_are_accepted():
    assert parse({"wafRateLimit": "100"}).waf_rate_limit == 100  # pulumi-aws's least rate-based limit
    assert parse({"monthlyBudget": "10", "alarmEmail": "ops@example.com"}).monthly_budget == 10


def _redirects(n: int, length: int) -> str:
    return ",".join(f"/go/{i:03d}=https://example.com/" + "p" * (length - 24) for i in range(n))


def test_an_environment_lambda_would_refuse_is_refused_before_anything_is_created():
    """Lambda measures the JSON of the variables and refuses more than 4 KB, after the function exists."""
    with pytest.raises(SettingsError) as err:
        parse({"redirects": _redirects(40, 100)})
    message = str(err.value)
    assert "counter function's environment would be" in message and "over Lambda's limit of 4096" in message
    assert message.index("redirects (") < message.index("corsOrigins (")  # names what takes the room, largest first
    settings = parse({"redirects": _redirects(25, 100)})  # ~2.9 KB of redirects: fits
    variables = settings.function_environment("counter", "route-counter-table-1234567", "", "", "")
    assert len(json.dumps(variables, separators=(",", ":"))) < env.ENVIRONMENT_LIMIT


def test_tags_fit_the_smallest_limit_of_what_carries_them(monkeypatch):
    monkeypatch.chdir(ROOT)
    nine = ",".join(f"k{i}=v" for i in range(9))
    parse({"tags": nine})  # 9 + the program's 2 fit the 50 of every tagged resource
    with pytest.raises(SettingsError, match="at most 10 tags, 2 of them the program's own: give at most 8"):
        parse({"tags": nine, "downloads": "/cv=tests/files/resume.pdf"})  # S3 objects take 10
    parse({"tags": ",".join(f"k{i}=v" for i in range(8)), "downloads": "/cv=tests/files/resume.pdf"})
    with pytest.raises(SettingsError, match="at most 50"):
        parse({"tags": ",".join(f"k{i}=v" for i in range(49))})


def test_each_function_gets_only_what_it_reads_and_the_secret_only_with_unique_visitors():
    names = ("route-counter-table-1234567", "bucket", "markers", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    off = parse({}).function_environment("counter", *names)
    assert off[env.VISITOR_SECRET] == "" and off[env.VISITOR_TABLE] == ""
    on = parse({"uniqueVisitors": "true"})
    assert on.function_environment("counter", *names)[env.VISITOR_SECRET] == names[3]
    for settings in (parse({}), on):
        listing = settings.function_environment("listing", *names)
        assert env.VISITOR_SECRET not in listing and env.WRITER not in listing and env.RATE_LIMITS not in listing
        # and what it is given is enough for the listing's own parser
        assert env.Settings.from_env(listing, env.LISTING_VARIABLES).table_name == names[0]


def test_unknown_config_key_is_refused():
    with pytest.raises(SettingsError, match="unknown config key"):
        parse({"memorysize": "256"})


def test_bad_config_stops_the_program_with_a_clear_error():
    with pytest.raises(pulumi.RunError, match="invalid stack config: memorySize must be an integer from 128 to 10240"):
        run_program(memorySize="64")


# Security audit: walk everything the program creates, as a reviewer would before `pulumi up`.

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                 "dynamodb:TransactWriteItems", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
                 "dynamodb:PartiQLDelete", "dynamodb:DeleteTable", "dynamodb:UpdateTable"}
READ_ACTIONS = {"dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem",
                "dynamodb:PartiQLSelect", "dynamodb:TransactGetItems"}


@pulumi.runtime.test
def test_security_audit_of_every_policy_and_permission():
    def assertions(recorder, _):
        granted = {name.removesuffix("-policy"): {a for _, actions, _ in statements(doc) for a in actions}
                   for name, doc in policy_documents(recorder).items()}
        assert not granted["route-counter-listing"] & WRITE_ACTIONS  # the listing role cannot write
        # The counter reads by key alone (a hot route's parts): it can never list the table.
        assert granted["route-counter-counter"] & READ_ACTIONS == {"dynamodb:BatchGetItem", "dynamodb:GetItem"}
        for actions in granted.values():
            assert not any(a.endswith("*") or a == "*" for a in actions)
        # Nothing else grants access: no resource policy on the API, no managed policies on the roles.
        api = recorder.of_type(RESTAPI)[0].inputs
        assert "policy" not in api and api["endpointConfiguration"]["types"] == "REGIONAL"
        for perm in recorder.of_type(PERMISSION):
            assert perm.inputs["principal"] == "apigateway.amazonaws.com"
            assert perm.inputs["sourceArn"].startswith(f"arn:aws:execute-api:{REGION}:{ACCOUNT}:route-counter-api-id/v1/")
        assert {p.inputs["function"] for p in recorder.of_type(PERMISSION)} == {COUNTER_FN, LISTING_FN}
        assert recorder.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
        assert recorder.of_type("aws:iam/policy:Policy") == []

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_a_new_stack_protects_its_data_by_default():
    """A stack with no config file of its own gets Pulumi.yaml's defaults: PITR, deletion protection, protect."""
    def assertions(recorder, component):
        table = recorder.resources["route-counter-table"].inputs
        assert table["pointInTimeRecovery"] == {"enabled": True}
        assert table["deletionProtectionEnabled"] is True
        assert component.table._protect is True

    return check(run_program("prod"), assertions)


@pytest.mark.parametrize(
    ("origins", "allow", "vary"),
    [("*", "'*'", None), ("https://a.example", "'https://a.example'", "'Origin'"),
     ("https://a.example,https://b.example", "method.request.header.origin", "'Origin'")],
)
@pulumi.runtime.test
def test_api_gateway_own_errors_carry_cors_and_the_product_error_shape(origins, allow, vary):
    """429 throttled, 403, 502, 504 from API Gateway itself: readable by the allowed pages, JSON like ours."""
    def assertions(recorder, _):
        responses = api_document(recorder)["x-amazon-apigateway-gateway-responses"]
        assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"}
        for kind, response in responses.items():
            params = response["responseParameters"]
            assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == allow
            assert params.get("gatewayresponse.header.Vary") == vary
            assert params["gatewayresponse.header.X-Content-Type-Options"] == "'nosniff'"
            template = response["responseTemplates"]["application/json"]
            if kind == "THROTTLED":  # the stage's own limit: 429, Retry-After, and the key that raises it
                answer = json.loads(template.replace("$context.requestId", "r-1"))
                assert (response["statusCode"], params["gatewayresponse.header.Retry-After"]) == ("429", "'1'")
                assert answer["error"] == "stage_throttled" and answer["requestId"] == "r-1"
                assert "takes 20 requests a second (bursts of 40)" in answer["message"]  # Pulumi.dev.yaml
                assert "pulumi config set throttleRateLimit" in answer["message"]
                continue
            sample = (template.replace("$context.error.responseType", "THROTTLED")
                      .replace("$context.error.messageString", '"Too Many Requests"').replace("$context.requestId", "r-1"))
            assert json.loads(sample) == {"error": "THROTTLED", "message": "Too Many Requests", "requestId": "r-1"}

    return check(run_program(corsOrigins=origins), assertions)


# parliament (an offline IAM linter): every permissions and resource policy the program produces, for the
# default stack and for one with every option on. Trust policies are left out: parliament lints
# permissions, and reports any statement without Resource (which a trust policy never has) as MALFORMED;
# they are pinned exactly by test_iam_is_least_privilege_with_no_wildcards instead.
EVERY_OPTION = {"tracing": True, "accessLogs": True, "alarmEmail": "ops@example.com", "reservedConcurrency": 3,
                "downloads": "/resume.pdf=tests/files/resume.pdf", "redirects": "/go=https://example.com",
                "writer": "botocore", "countsAccess": "apiKey", "wafRateLimit": 1000, "monthlyBudget": 20,
                "tags": "team=web", "rateLimits": "/login=5/1m", "endpointType": "EDGE", "detailedMetrics": True,
                "apiGatewayLogsRole": True, "meter": "shop=/aws/apigateway/shop-prod", "meterLogGroup": True,
                "timezone": "Europe/Berlin"}


def permission_policies(recorder):
    return {r.name: r.inputs["policy"] for r in recorder.resources.values()
            if isinstance(r.inputs.get("policy"), str) and r.type in (POLICY, "aws:s3/bucketPolicy:BucketPolicy")}


def parliament_findings(document: str) -> list[str]:
    from parliament import analyze_policy_string

    policy = analyze_policy_string(document, include_community_auditors=True)
    return [f"{f.issue}: {f.detail}" for f in policy.findings]


@pytest.mark.parametrize("options", [{}, EVERY_OPTION], ids=["default", "every-option"])
@pulumi.runtime.test
def test_parliament_finds_nothing_in_any_policy(options, monkeypatch):
    from tests.stack import ROOT

    monkeypatch.chdir(ROOT)

    def assertions(recorder, _):
        documents = permission_policies(recorder)
        assert len(documents) == (4 if options else 2)  # two roles' policies (+ the meter's and the bucket's)
        for name, document in documents.items():
            assert parliament_findings(document) == [], name

    return check(run_program(**options), assertions)


def test_parliament_is_not_vacuous():
    """The same call reports a grant that does not fit its resource and a wildcard action."""
    mismatch = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"}]})
    assert any("RESOURCE_MISMATCH" in f for f in parliament_findings(mismatch))


@pulumi.runtime.test
def test_detailed_metrics_only_when_asked():
    def assertions(recorder, _):
        assert recorder.resources["route-counter-method-settings"].inputs["settings"]["metricsEnabled"] is True

    return check(run_program(detailedMetrics=True), assertions)
