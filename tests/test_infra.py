"""The Pulumi program under Pulumi's mock runtime: what a reviewer of the stack would check.

Every test runs the real __main__.py with the dev stack's config (Pulumi.yaml defaults + Pulumi.dev.yaml)
and returns the Output whose apply holds the assertions, so the checks really run.
"""

from __future__ import annotations

import importlib
import inspect
import json

import pulumi
import pytest

from handler import schema, settings as env
from infra import component as rc
from infra import policies
from infra.settings import SettingsError, defaults, parse
from tests.stack import ACCOUNT, REGION, Recorder, everything, run_program

RESTAPI = "aws:apigateway/restApi:RestApi"
METHOD, INTEGRATION = "aws:apigateway/method:Method", "aws:apigateway/integration:Integration"
RESOURCE = "aws:apigateway/resource:Resource"
FUNCTION, PERMISSION = "aws:lambda/function:Function", "aws:lambda/permission:Permission"
POLICY, ROLE = "aws:iam/rolePolicy:RolePolicy", "aws:iam/role:Role"


def check(program_and_recorder, assertions):
    recorder, program = program_and_recorder
    return everything(program["route_counter"]).apply(lambda _: assertions(recorder, program["route_counter"]))


def routes(recorder):
    """{(resource path, method): function logical name} from the registered methods and integrations."""
    paths = {"route-counter-api-root": "/"}
    resources = recorder.of_type(RESOURCE)
    while len(paths) < len(resources) + 1:
        for r in resources:
            if r.inputs["parentId"] in paths:
                parent = paths[r.inputs["parentId"]]
                paths[f"{r.name}-id"] = parent.rstrip("/") + "/" + r.inputs["pathPart"]
    table = {}
    for integration in recorder.of_type(INTEGRATION):
        function_arn = integration.inputs["uri"].split("/functions/")[1].removesuffix("/invocations")
        fn = function_arn.rsplit(":", 1)[-1]
        table[(paths[integration.inputs["resourceId"]], integration.inputs["httpMethod"])] = (
            fn, integration.inputs["type"], integration.inputs["integrationHttpMethod"]
        )
    return table


@pulumi.runtime.test
def test_root_and_proxy_go_to_the_counter_and_the_listing_path_to_the_listing_only():
    def assertions(recorder, _):
        table = routes(recorder)
        assert table[("/", "ANY")] == ("route-counter-counter", "AWS_PROXY", "POST")
        assert table[("/{proxy+}", "ANY")] == ("route-counter-counter", "AWS_PROXY", "POST")
        for path in ("/_counts", "/_counts/{proxy+}"):
            for method in ("GET", "HEAD", "OPTIONS", "ANY"):
                assert table[(path, method)] == ("route-counter-listing", "AWS_PROXY", "POST"), (path, method)
        listing_paths = {path for path, _ in table if path.startswith("/_counts")}
        assert all(table[key][0] == "route-counter-listing" for key in table if key[0] in listing_paths)
        assert len(recorder.of_type(METHOD)) == len(table) == 10
        assert all(m.inputs["authorization"] == "NONE" for m in recorder.of_type(METHOD))
        assert len(recorder.of_type(RESTAPI)) == 1  # a REST API, not an HTTP API
        assert recorder.of_type("aws:apigatewayv2/api:Api") == []

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
        assert settings["settings"]["metricsEnabled"] is True
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
        table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:route-counter-table"
        expected = {"route-counter-counter-policy": ["dynamodb:UpdateItem"],
                    "route-counter-listing-policy": ["dynamodb:GetItem", "dynamodb:Scan"]}
        assert set(docs) == set(expected)
        for name, doc in docs.items():
            role = name.removesuffix("-policy")
            own_group = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:{role}-logs"
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
        for name, fn in fns.items():
            assert fn["runtime"] == "python3.13" and fn["architectures"] == ["arm64"] and fn["memorySize"] == 256
            assert fn["timeout"] <= 10
            assert fn["loggingConfig"]["logFormat"] == "JSON" and fn["loggingConfig"]["applicationLogLevel"] == "WARN"
            assert fn["loggingConfig"]["logGroup"].startswith(f"/aws/lambda/{name}-")
            variables = fn["environment"]["variables"]
            assert set(variables) == {env.TABLE_NAME, env.CORS_ORIGINS, env.MAX_ROUTE_BYTES, env.ALLOW_PREFIXES, env.ROUTE_TEMPLATES}
            assert variables[env.TABLE_NAME].startswith("route-counter-table")
            assert variables[env.MAX_ROUTE_BYTES] == "1024" and variables[env.CORS_ORIGINS] == "*"
            assert "reservedConcurrentExecutions" not in fn
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
        assert "reservedConcurrentExecutions" not in fns["route-counter-listing"]
        assert counter["environment"]["variables"][env.ROUTE_TEMPLATES] == "/users/{id}"
        assert counter["environment"]["variables"][env.CORS_ORIGINS] == "https://site.example"

    return check(run_program(architecture="x86_64", memorySize=512, reservedConcurrency=5,
                             routeTemplates="/users/{id}", corsOrigins="https://site.example"), assertions)


@pulumi.runtime.test
def test_code_asset_holds_only_the_handler_package():
    def assertions(recorder, _):
        assets = [f.inputs["code"].assets for f in recorder.of_type(FUNCTION)]
        assert assets[0].keys() == assets[1].keys()  # one code asset for both functions
        names = sorted(assets[0])
        assert names == sorted(rc.handler_files())
        assert all(n.startswith("handler/") and n.endswith(".py") for n in names)
        assert "handler/counter.py" in names and "handler/listing.py" in names
        assert not any("test" in n or "__pycache__" in n or "boto" in n for n in names)

    return check(run_program(), assertions)


@pytest.mark.parametrize("handler_string", [rc.COUNTER_HANDLER, rc.LISTING_HANDLER])
def test_handler_strings_resolve_to_callables_taking_event_and_context(handler_string):
    module, _, attr = handler_string.rpartition(".")
    fn = getattr(importlib.import_module(module), attr)
    assert callable(fn) and list(inspect.signature(fn).parameters) == ["event", "context"]
    assert all(importlib.util.find_spec(name.removesuffix(".py").replace("/", ".")) for name in rc.handler_files())


def test_handler_package_imports_nothing_outside_the_lambda_runtime():
    """The asset ships handler/ alone, so it may import only the standard library, botocore and itself."""
    import ast
    import sys

    for name, path in rc.handler_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    top = module.split(".")[0]
                    assert top in sys.stdlib_module_names or top in ("botocore", "handler", "__future__"), (name, module)


@pulumi.runtime.test
def test_alarms_and_topic():
    def assertions(recorder, _):
        alarms = {a.name: a.inputs for a in recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        metrics = {(a["namespace"], a["metricName"]) for a in alarms.values()}
        assert metrics == {("AWS/ApiGateway", "5XXError"), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                           ("AWS/DynamoDB", "ThrottledRequests")}
        topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:route-counter-alarms"
        assert all(a["alarmActions"] == [topic_arn] for a in alarms.values())
        assert recorder.of_type("aws:sns/topicSubscription:TopicSubscription") == []

    return check(run_program(), assertions)


@pulumi.runtime.test
def test_alarm_email_subscribes_to_the_topic():
    def assertions(recorder, _):
        [sub] = recorder.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert sub.inputs["protocol"] == "email" and sub.inputs["endpoint"] == "ops@example.com"

    return check(run_program(alarmEmail="ops@example.com"), assertions)


@pulumi.runtime.test
def test_access_logs_when_enabled():
    def assertions(recorder, _):
        stage = recorder.resources["route-counter-stage"].inputs
        assert stage["accessLogSettings"]["destinationArn"].endswith("route-counter-access-logs")
        assert json.loads(stage["accessLogSettings"]["format"].replace("$", ""))  # one JSON line
        assert recorder.resources["route-counter-method-settings"].inputs["settings"]["loggingLevel"] == "ERROR"

    return check(run_program(accessLogs=True), assertions)


@pulumi.runtime.test
def test_stack_outputs():
    recorder, program = run_program()

    def assertions(recorder, component):
        assert set(component.outputs) == {rc.OUTPUT_URL, rc.OUTPUT_COUNTS_URL, rc.OUTPUT_TABLE_NAME,
                                          rc.OUTPUT_COUNTER_FUNCTION, rc.OUTPUT_LISTING_FUNCTION}
        assert (rc.OUTPUT_URL, rc.OUTPUT_COUNTS_URL) == ("url", "counts_url")
        assert (rc.OUTPUT_TABLE_NAME, rc.OUTPUT_COUNTER_FUNCTION, rc.OUTPUT_LISTING_FUNCTION) == (
            "table_name", "counter_function_name", "listing_function_name")
        return pulumi.Output.all(component.url, component.counts_url).apply(
            lambda urls: urls == ["https://route-counter-api-id.execute-api.us-east-1.amazonaws.com/v1",
                                  "https://route-counter-api-id.execute-api.us-east-1.amazonaws.com/v1/_counts"]
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
        ("reservedConcurrency", "0", "reservedConcurrency must be an integer from 1 to 1000"),
        ("protectData", "yes", "protectData must be true or false"),
        ("countsPath", "a/b", "countsPath must be one path segment"),
        ("stageName", "my stage", "stageName must be"),
        ("corsOrigins", "site.example", "corsOrigins must be * or comma-separated origins"),
        ("allowPrefixes", "api", "allowPrefixes: allowed prefix 'api' must start with '/'"),
        ("routeTemplates", "/users/{id", "routeTemplates:"),
        ("alarmEmail", "not-an-email", "alarmEmail must be an email address"),
    ],
)
def test_config_validation_names_the_key_and_range(key, value, message):
    with pytest.raises(SettingsError) as err:
        parse({key: value})
    assert message in str(err.value)


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
        assert not granted["route-counter-counter"] & READ_ACTIONS  # the counter role cannot read
        for actions in granted.values():
            assert not any(a.endswith("*") or a == "*" for a in actions)
        # Nothing else grants access: no resource policy on the API, no managed policies on the roles.
        api = recorder.of_type(RESTAPI)[0].inputs
        assert "policy" not in api and api["endpointConfiguration"]["types"] == "REGIONAL"
        for perm in recorder.of_type(PERMISSION):
            assert perm.inputs["principal"] == "apigateway.amazonaws.com"
            assert perm.inputs["sourceArn"].startswith(f"arn:aws:execute-api:{REGION}:{ACCOUNT}:route-counter-api-id/v1/")
        assert {p.inputs["function"] for p in recorder.of_type(PERMISSION)} == {
            "route-counter-counter1a2b3c", "route-counter-listing1a2b3c"}
        for method in recorder.of_type(METHOD):  # public by design, but nothing beyond the routes above
            assert not method.inputs.get("apiKeyRequired") and "authorizerId" not in method.inputs
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
