"""The real Pulumi CLI and engine run the program: what only the engine can show (config typing, URNs, diffs
and replacements, `protect`, secrets in outputs, `destroy`, two stacks side by side; `pulumi new` in test_new.py).

The CLI is the released v3 (on PATH) or the one `make pulumi-cli` builds from the Go module proxy; the Python
language host and the `aws` and `random` providers are the stand-ins beside this file (tests/engine/pulumi).
Each module gets a file backend, a passphrase and a fake AWS account of its own in a temporary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from route_counter.infra import component as rc
from tests import aws_shapes
from tests.engine import harness, provider
from tests.engine.harness import Engine, changes, created_types

pytestmark = pytest.mark.engine

README = harness.ROOT / "README.md"
README_START, README_END = "<!-- preview-resources:start -->", "<!-- preview-resources:end -->"


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    harness.find_cli()
    return Engine(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def project(engine) -> Path:
    return harness.copy_project(engine.home / "route-counter")


@pytest.fixture(scope="module")
def first_preview(engine, project) -> dict:
    """A stack as a user starts one (`pulumi stack init prod`: no config): its first preview, as JSON."""
    engine.new_stack(project, "prod")
    return engine.preview_json(project, "prod")


@pytest.fixture(scope="module")
def deployed(engine, project, first_preview) -> str:
    """That stack after `pulumi up`."""
    engine.up(project, "prod")
    return "prod"


def resource_table(counts: dict[str, int]) -> str:
    rows = [f"| `{typ}` | {n} |" for typ, n in sorted(counts.items()) if typ != "pulumi:pulumi:Stack"]
    return "\n".join(["| resource type | count |", "|---|---|", *rows,
                      f"| **total, with the stack itself** | **{sum(counts.values())}** |"])


def test_a_brand_new_stack_previews_exactly_what_the_readme_lists(first_preview):
    expected = resource_table(created_types(first_preview))
    shown = README.read_text().split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert shown == expected, f"update the README's deploy checklist with:\n{expected}"
    assert not [d for d in first_preview.get("diagnostics", []) if d.get("severity") == "error"]


def test_the_committed_dev_stack_previews_with_its_own_values(engine, project):
    engine.run(project, "stack", "init", "dev", "--non-interactive")
    preview = engine.preview_json(project, "dev")
    (settings,) = [s["newState"]["inputs"] for s in preview["steps"]
                   if s["urn"].endswith("aws:apigateway/methodSettings:MethodSettings::route-counter-method-settings")]
    assert settings["settings"]["throttlingRateLimit"] == 20  # Pulumi.dev.yaml's, not the default 100
    (table,) = [s["newState"] for s in preview["steps"] if s["urn"].endswith("::route-counter-table")]
    assert table["inputs"]["deletionProtectionEnabled"] is False and not table.get("protect")


def test_after_up_nothing_changes_and_a_second_up_does_nothing(engine, project, deployed):
    summary = engine.preview_json(project, deployed, "--expect-no-changes")["changeSummary"]  # exits 0, or fails
    assert set(summary) == {"same"}
    second = engine.up(project, deployed)
    assert re.search(r"\b\d+ unchanged\b", second.out) and not re.search(r"\b(created|updated|replaced|deleted)\b",
                                                                       second.out.split("Resources:")[1])


def test_a_changed_handler_updates_both_functions_and_nothing_else(engine, project, deployed, tmp_path):
    counter = project / "route_counter" / "handler" / "counter.py"
    original = counter.read_text()
    counter.write_text(original + "\n# a changed line\n")
    try:
        assert changes(engine.preview_json(project, deployed)) == {
            "route-counter-counter": "update", "route-counter-listing": "update"}
    finally:
        counter.write_text(original)


def test_a_wrongly_typed_value_is_refused_by_the_cli_before_the_program_runs(engine, project):
    engine.new_stack(project, "typing", memorySize="lots")
    result = engine.preview(project, "typing", ok=False)
    assert result.code != 0
    assert "configuration key 'memorySize' must be of type 'integer'" in result.text
    assert "invalid stack config" not in result.text  # the program never ran


def test_an_out_of_range_value_fails_the_preview_with_one_line_and_no_traceback(engine, project):
    engine.new_stack(project, "range", memorySize="99999")
    result = engine.preview(project, "range", ok=False)
    assert result.code != 0
    diagnostics = result.out.split("Diagnostics:", 1)[1]
    assert diagnostics.count("error: invalid stack config: memorySize must be an integer from 128 to 10240, got 99999") == 1
    assert "Traceback" not in result.text and "File \"" not in result.text
    assert engine.resources(project, "range") == []  # nothing was created


def readme_outputs() -> set[str]:
    text = README.read_text() + (harness.ROOT / "docs" / "deploy.md").read_text()
    names = set(rc.OUTPUTS)
    return {name for name in names if f"`{name}`" in text or f"stack output {name}" in text}


def test_every_output_a_new_stack_has_exists_after_up(engine, project, deployed):
    outputs = engine.outputs(project, deployed)
    base = {rc.OUTPUT_URL, rc.OUTPUT_COUNTS_URL, rc.OUTPUT_TABLE_NAME, rc.OUTPUT_COUNTER_FUNCTION,
            rc.OUTPUT_LISTING_FUNCTION, rc.OUTPUT_DASHBOARD_URL}
    assert set(outputs) == base
    assert re.fullmatch(r"https://[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com/v1", outputs[rc.OUTPUT_URL])
    assert outputs[rc.OUTPUT_COUNTS_URL] == outputs[rc.OUTPUT_URL] + "/_counts"


def test_renaming_the_listing_path_updates_the_document_and_replaces_only_what_names_it(engine, project, deployed):
    engine.run(project, "config", "set", "countsPath", "stats", "--stack", deployed)
    preview = engine.preview_json(project, deployed, "--diff")
    steps = changes(preview)
    replaced = {name for name, op in steps.items() if op == "replace"}
    # The deployment, and the listing's two invoke permissions: their source ARN names the path (least
    # privilege), and a Lambda permission cannot change in place.
    assert replaced == {"route-counter-deployment", "route-counter-listing-permission",
                        "route-counter-listing-proxy-permission"}
    assert steps["route-counter-api"] == "update"
    assert {name for name, op in steps.items() if op == "update"} == {
        "route-counter-api", "route-counter-stage", "route-counter-counter", "route-counter-listing"}
    engine.up(project, deployed)
    state = engine.run(project, "stack", "export", "--stack", deployed).out
    assert "_counts" not in state and "/stats" in state
    assert engine.outputs(project, deployed)[rc.OUTPUT_COUNTS_URL].endswith("/v1/stats")
    engine.run(project, "config", "rm", "countsPath", "--stack", deployed)
    engine.up(project, deployed)


def teardown_commands() -> list[list[str]]:
    """The teardown steps of docs/deploy.md, in order, as written there."""
    text = (harness.ROOT / "docs" / "deploy.md").read_text()
    paragraph = text.split("Tear down:", 1)[1].split("\n\n", 1)[0]
    return [command.split() for command in re.findall(r"`(pulumi [^`]+)`", paragraph)]


def test_protected_data_stops_destroy_and_the_documented_teardown_works(engine, project):
    engine.new_stack(project, "keep")  # protectData defaults to true
    engine.up(project, "keep")
    refused = engine.destroy(project, "keep", ok=False)
    assert refused.code != 0 and "protected" in refused.text
    assert [c[:2] for c in teardown_commands()] == [["pulumi", "destroy"], ["pulumi", "config"], ["pulumi", "up"],
                                                   ["pulumi", "destroy"], ["pulumi", "stack"]]
    for command in teardown_commands()[1:]:
        args = command[1:]
        if args[0] == "stack" and args[1] == "rm":
            assert engine.resources(project, "keep") == []  # destroy left an empty stack
            args += ["--yes"]
        elif args[0] in ("up", "destroy"):
            args += ["--yes", "--skip-preview"]
        engine.run(project, *args, "--stack", "keep", "--non-interactive")
    listed = engine.run(project, "stack", "ls", "--json").json()
    assert "keep" not in {s["name"] for s in listed}


EVERYTHING = {
    "countsAccess": "apiKey", "wafRateLimit": "1000", "monthlyBudget": "20", "alarmEmail": "ops@example.com",
    "downloads": "/resume.pdf=files/resume.pdf", "redirects": "/go/home=https://example.com/",
    "uniqueVisitors": "true", "countBots": "true", "endpointType": "EDGE", "tracing": "true",
    "accessLogs": "true", "detailedMetrics": "true", "domainName": "count.example.com",
    "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "timezone": "Europe/Berlin", "ignoreIps": "203.0.113.0/24,2001:db8::/48", "trafficAlarm": "5000",
    "trafficAnomaly": "true", "routeExpiryDays": "90", "rateLimits": "/api/*=100/1m",
    "routeTemplates": "/users/{id}", "tags": "team=web",
    "meter": "shop=/aws/apigateway/shop-prod,billing=/aws/apigateway/billing-prod", "meterLogGroup": "true",
}


def test_every_option_on_two_stacks_side_by_side_up_and_destroy(engine, project):
    for group in ("/aws/apigateway/shop-prod", "/aws/apigateway/billing-prod"):
        provider.seed_log_group(Path(engine.env["STANDIN_CLOUD"]), group)
    (project / "files").mkdir(exist_ok=True)
    (project / "files" / "resume.pdf").write_bytes(b"%PDF-1.4 a resume\n")
    # One stack owns the account's API Gateway logging role; each serves its own domain name.
    for stack, owns_logs_role in (("side-a", "true"), ("side-b", "false")):
        config = {**EVERYTHING, "domainName": f"{stack}.example.com"}
        engine.new_stack(project, stack, protectData="false", apiGatewayLogsRole=owns_logs_role, **config)
        if stack == "side-a":  # previewed first, as `pulumi up` does without --skip-preview: one command
            engine.run(project, "up", "--stack", stack, "--yes", "--non-interactive")
        else:
            engine.up(project, stack)
        assert engine.preview(project, stack, "--expect-no-changes").code == 0
    outputs = engine.outputs(project, "side-a")
    # Every documented output but the global table's (the replica regions' test has it).
    assert readme_outputs() - {rc.OUTPUT_TABLE_REGIONS} <= set(outputs)
    assert outputs[rc.OUTPUT_COUNTS_API_KEY] == "[secret]"
    assert engine.outputs(project, "side-a", show_secrets=True)[rc.OUTPUT_COUNTS_API_KEY]
    assert outputs[rc.OUTPUT_URL] == "https://side-a.example.com"
    # A name one stack holds is refused to another, as AWS refuses it: the side-by-side check can fail.
    engine.run(project, "config", "set", "domainName", "side-a.example.com", "--stack", "side-b")
    taken = engine.up(project, "side-b", ok=False)
    assert taken.code != 0 and "AlreadyExists" in taken.text
    for stack in ("side-a", "side-b"):
        engine.destroy(project, stack)
        assert engine.resources(project, stack) == []


def test_a_global_table_and_a_stack_in_its_replica_region_go_up_and_destroy(engine, tmp_path):
    """replicaRegions on the table's own stack; replicaOf on a stack in the replica region, which looks the
    replica up (a get: nothing created, nothing deleted) and counts into it (docs/deploy.md)."""
    project = harness.copy_project(tmp_path / "route-counter")
    engine.new_stack(project, "home", protectData="false", replicaRegions="eu-west-1")
    engine.up(project, "home")
    home = engine.outputs(project, "home")
    assert home[rc.OUTPUT_TABLE_REGIONS] == f"{aws_shapes.REGION},eu-west-1"
    engine.new_stack(project, "eu", replicaOf="organization/route-counter/home", **{"aws:region": "eu-west-1"})
    preview = engine.preview_json(project, "eu")
    created = {step["urn"].split("::")[-2] for step in preview["steps"] if step["op"] == "create"}
    assert "aws:dynamodb/table:Table" not in created  # read, not created
    engine.up(project, "eu")
    assert engine.preview(project, "eu", "--expect-no-changes").code == 0
    functions = {r["urn"].split("::")[-1]: r for r in engine.resources(project, "eu")
                 if r["type"] == "aws:lambda/function:Function"}
    env = functions["route-counter-counter"]["outputs"]["environment"]["variables"]
    assert (env["TABLE_NAME"], env["TABLE_REGIONS"]) == (home[rc.OUTPUT_TABLE_NAME], f"{aws_shapes.REGION},eu-west-1")
    # A stack in a region the table does not reach stops at preview, in one line.
    engine.new_stack(project, "ap", replicaOf="organization/route-counter/home", **{"aws:region": "ap-southeast-2"})
    refused = engine.preview(project, "ap", ok=False)
    assert refused.code != 0 and "has no replica in ap-southeast-2" in refused.text and "Traceback" not in refused.text
    for stack in ("eu", "home"):  # the replica region's stack first: its functions use the table
        engine.destroy(project, stack)
        assert engine.resources(project, stack) == []


SHOP_API = '''"""Another team's API stack: it owns the access log group and exports its name."""
import pulumi
import pulumi_aws as aws

group = aws.cloudwatch.LogGroup("shop-access-logs", retention_in_days=30)
pulumi.export("access_log_group", group.name)
'''

METERED_BY_REFERENCE = '''"""The ready-made program, metering the shop API whose log group another stack's output names."""
import pulumi

from route_counter.infra import settings as stack
from route_counter.infra.component import RouteCounter

config = pulumi.Config()
settings = stack.parse({key: config.get(key) for key in stack.schema()},
                       project_stack=(pulumi.get_project(), pulumi.get_stack()))
shop = pulumi.StackReference("organization/shop-api/prod")
counter = RouteCounter("route-counter", settings, meter_log_groups={"shop": shop.get_output("access_log_group")})
for output_name, value in counter.outputs.items():
    pulumi.export(output_name, value)
'''


def test_metering_log_groups_another_stack_exports_previews(engine, tmp_path):
    shop = tmp_path / "shop-api"
    shop.mkdir()
    (shop / "Pulumi.yaml").write_text("name: shop-api\nruntime:\n  name: python\n  options:\n"
                                      f"    virtualenv: {harness.ROOT / '.venv'}\n")
    (shop / "__main__.py").write_text(SHOP_API)
    engine.new_stack(shop, "prod")
    engine.up(shop, "prod")
    group = engine.outputs(shop, "prod")["access_log_group"]

    project = harness.copy_project(tmp_path / "route-counter")
    (project / "__main__.py").write_text(METERED_BY_REFERENCE)
    engine.new_stack(project, "metered")
    preview = engine.preview_json(project, "metered")
    inputs = {step["urn"].split("::")[-1]: step["newState"].get("inputs", {}) for step in preview["steps"]
              if step["op"] == "create"}
    assert inputs["route-counter-meter-shop"]["logGroup"] == group  # known at preview, looked up in the account
    assert inputs["route-counter-meter"]["environment"]["variables"]["METER_SOURCES"] == f"shop={group}"
    assert inputs["route-counter-counter"]["environment"]["variables"]["METERED"] == "shop"
    assert inputs["route-counter-meter-shop-invoke"]["sourceArn"].endswith(f":log-group:{group}:*")


def test_what_real_aws_does_on_replaced_filters_missing_groups_expiry_off_and_access_logs(project, tmp_path):
    """A metered group moved: pulumi-aws replaces its subscription filter delete-first (the gap docs/metering.md
    describes); a group that does not exist stops the preview in one line; turning expiry off shows no
    diff on the table (TTL stays on); access logs without the account's logging role are refused."""
    engine = Engine(tmp_path / "backend")  # an account of its own: no API Gateway logging role yet
    cloud = Path(engine.env["STANDIN_CLOUD"])
    for group in ("/aws/apigateway/shop-a", "/aws/apigateway/shop-b"):
        provider.seed_log_group(cloud, group)
    engine.new_stack(project, "moved", protectData="false", meter="shop=/aws/apigateway/shop-a", routeExpiryDays="30")
    engine.up(project, "moved")
    engine.run(project, "config", "set", "meter", "shop=/aws/apigateway/shop-b", "--stack", "moved")
    engine.run(project, "config", "rm", "routeExpiryDays", "--stack", "moved")
    preview = engine.preview_json(project, "moved")
    assert changes(preview)["route-counter-meter-shop"] == "replace"
    assert "route-counter-table" not in changes(preview)  # ttl left out keeps TTL on: no diff
    moved = [line.split("route-counter-meter-shop ", 1)[1] for line in engine.up(project, "moved").out.splitlines()
             if "LogSubscriptionFilter route-counter-meter-shop " in line]
    steps = [next(s for s in ("deleted original", "created replacement") if line.startswith(s)) for line in moved
             if line.startswith(("deleted original", "created replacement"))]
    assert steps == ["deleted original", "created replacement"], moved  # delete first: the gap
    engine.run(project, "config", "set", "meter", "shop=/aws/apigateway/nowhere", "--stack", "moved")
    missing = engine.preview(project, "moved", ok=False)
    assert missing.code != 0 and "meter: the log group /aws/apigateway/nowhere metered as shop does not exist" in missing.text
    assert "Traceback" not in missing.text and "File \"" not in missing.text
    engine.run(project, "config", "rm", "meter", "--stack", "moved")
    engine.run(project, "config", "set", "accessLogs", "true", "--stack", "moved")
    refused = engine.up(project, "moved", ok=False)
    assert "CloudWatch Logs role ARN must be set in account settings" in refused.text
    engine.run(project, "config", "set", "apiGatewayLogsRole", "true", "--stack", "moved")
    engine.up(project, "moved")
    engine.destroy(project, "moved")
