"""route-counter as a Pulumi package (provider/, docs/component.md): its schema as the real CLI gets it from
the plugin. `pulumi package get-schema ./provider` installs the plugin's venv as the real pip toolchain does
(the checkout's requirements, then route-counter itself from the folder above) and runs the plugin through
the language host's RunPlugin; the schema comes from the SDK's component host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from route_counter.infra import component, meter_component
from route_counter.infra.args import snake
from tests.engine import harness
from tests.engine.harness import Engine

pytestmark = pytest.mark.engine

DOCS = harness.ROOT / "docs" / "component.md"
TOKENS = {"RouteCounter": "route-counter:index:RouteCounter", "ApiMeter": "route-counter:index:ApiMeter"}
JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of the repository as a user has it (git's files), where `pulumi package add ./provider` runs."""
    harness.find_cli()
    root = tmp_path_factory.mktemp("package") / "route-counter"
    harness.copy_files(harness.tracked_files(), root)
    return root


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine(tmp_path_factory.mktemp("package-engine"))


@pytest.fixture(scope="module")
def schema(engine, clone) -> dict[str, Any]:
    found: dict[str, Any] = engine.run(clone, "package", "get-schema", "./provider").json()
    return found


def test_there_is_exactly_one_plugin_and_the_docs_name_its_folder():
    listed = subprocess.run(["git", "ls-files"], cwd=harness.ROOT, capture_output=True, text=True, check=True).stdout
    plugins = [name for name in listed.splitlines() if Path(name).name == "PulumiPlugin.yaml"]
    assert plugins == ["provider/PulumiPlugin.yaml"]
    assert "`provider/` is a Pulumi package" in DOCS.read_text()


def test_the_schema_has_both_components_every_config_key_and_the_outputs(schema):
    config = harness.yaml_file(harness.ROOT / "Pulumi.yaml")["config"]
    pyproject = (harness.ROOT / "pyproject.toml").read_text()
    assert schema["name"] == "route-counter"
    assert schema["version"] == pyproject.split('\nversion = "', 1)[1].split('"', 1)[0]  # the package's version
    assert set(schema["resources"]) == set(TOKENS.values())
    counter = schema["resources"][TOKENS["RouteCounter"]]
    assert counter["isComponent"] is True
    # Every config key, camelCase as in Pulumi.yaml, typed, plain, with its default and description.
    assert counter["inputProperties"] == {
        key: {"type": JSON_TYPES[spec["type"]], "plain": True, "default": spec["default"],
              "description": spec["description"]} for key, spec in config.items()}
    assert not counter.get("requiredInputs")
    outputs = counter["properties"]
    assert set(outputs) == {camel(name) for name in component.OUTPUTS}
    assert {"url", "countsUrl", "tableName", "countsApiKey"} <= set(outputs)
    assert [name for name, prop in outputs.items() if prop.get("secret")] == ["countsApiKey"]
    assert outputs["meterAccessLogFormat"]["additionalProperties"] == {"type": "string"}

    meter = schema["resources"][TOKENS["ApiMeter"]]
    assert not meter.get("requiredInputs")  # sources or logGroups: the component asks for one of them
    assert meter["inputProperties"]["sources"]["items"]["type"] == "string"
    # Names known when the component is made (a plain map), each log group maybe another stack's output.
    assert meter["inputProperties"]["logGroups"]["plain"] is True
    assert meter["inputProperties"]["logGroups"]["additionalProperties"] == {"type": "string"}
    shared = {key for key in config if snake(key) in meter_component._SHARED}
    assert set(meter["inputProperties"]) == shared | {"sources", "logGroups"}
    assert set(meter["properties"]) == {camel(name) for name in meter_component.OUTPUT_DOCS} | {
        "logGroupArns", "accessLogFormats"}
    # Nothing of another package's: a YAML program needs no other schema to use these two.
    assert "$ref" not in str(schema["resources"])


def test_the_docs_reference_tables_match_the_schema(schema):
    """docs/component.md's argument and output tables (Python names) are the schema's properties."""
    text = DOCS.read_text()
    counter = schema["resources"][TOKENS["RouteCounter"]]
    args_table = text.split("### `RouteCounterArgs`", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([^`]*)` \|", args_table, re.M)
    py_types = {"str": "string", "int": "integer", "bool": "boolean"}
    assert {camel(name): (py_types[kind], default) for name, kind, default in rows} == {
        key: (prop["type"], repr(prop["default"]).replace("false", "False").replace("true", "True"))
        for key, prop in counter["inputProperties"].items()}
    outputs_table = text.split("### `RouteCounter` outputs", 1)[1].split("###", 1)[0]
    assert {camel(name) for name in re.findall(r"^\| `(\w+)` \|", outputs_table, re.M)} == set(counter["properties"])
    meter = schema["resources"][TOKENS["ApiMeter"]]
    meter_table = text.split("### `ApiMeter` outputs", 1)[1].split("<!--", 1)[0]
    shown = {camel(name) for name in re.findall(r"^\| `(\w+)` \|", meter_table, re.M)}
    assert shown == set(meter["properties"]) - {"logGroupArns", "accessLogFormats"}  # the package's two: prose
    assert "`logGroupArns`" in text and "`accessLogFormats`" in text


def test_the_other_languages_examples_use_only_what_the_schema_has(schema):
    """The YAML, TypeScript, Go and C# examples (not run here but YAML) name real properties and outputs."""
    counter = schema["resources"][TOKENS["RouteCounter"]]
    inputs, outputs = set(counter["inputProperties"]), set(counter["properties"])
    section = DOCS.read_text().split("## From any Pulumi language: the package", 1)[1].split("## Reference", 1)[0]
    blocks = dict(re.findall(r"```(\w+)\n(.*?)```", section, re.S))
    assert set(blocks) == {"yaml", "typescript", "go", "csharp"}
    yaml_example = harness.yaml.safe_load(blocks["yaml"])
    assert yaml_example["resources"]["hits"]["type"] == "route-counter:RouteCounter"
    assert set(yaml_example["resources"]["hits"]["properties"]) <= inputs
    assert re.fullmatch(r"\$\{hits\.(\w+)\}", yaml_example["outputs"]["url"])[1] in outputs
    typescript = re.search(r"\{ (.*) \}\);", blocks["typescript"])[1]
    assert {pair.split(":")[0].strip() for pair in typescript.split(",")} <= inputs
    for language in ("go", "csharp"):  # PascalCase fields, a lower-case first letter in the schema
        fields = re.findall(r"^\s+(\w+)\s*[:=]", blocks[language], re.M)
        assert fields and {name[0].lower() + name[1:] for name in fields} <= inputs, language
        assert {name[0].lower() + name[1:] for name in re.findall(r"hits\.(\w+)", blocks[language])} <= outputs


YAML_COUNTER = """name: yaml-site
runtime: yaml
packages:
  route-counter: {provider}
resources:
  hits:
    type: route-counter:RouteCounter
    properties:
      countsPath: stats
      countsAccess: apiKey
      protectData: false
      memorySize: 512
outputs:
  url: ${{hits.url}}
  countsUrl: ${{hits.countsUrl}}
  tableName: ${{hits.tableName}}
  countsApiKey: ${{hits.countsApiKey}}
"""


def yaml_program(tmp_path: Path, name: str, text: str) -> Path:
    harness.find_yaml_host()
    program = tmp_path / name
    program.mkdir()
    (program / "Pulumi.yaml").write_text(text)
    return program


def test_a_yaml_program_previews_ups_exports_has_no_diff_and_destroys_a_route_counter(schema, clone, tmp_path):
    engine = Engine(tmp_path / "backend")
    program = yaml_program(tmp_path, "yaml-site", YAML_COUNTER.format(provider=clone / "provider"))
    engine.new_stack(program, "dev")
    preview = engine.preview_json(program, "dev")
    created = harness.created_types(preview)
    assert created["route-counter:index:RouteCounter"] == 1 and created["aws:lambda/function:Function"] == 2
    settings = next(step["newState"]["inputs"] for step in preview["steps"] if step["urn"].endswith("::hits-counter"))
    assert settings["memorySize"] == 512  # a YAML number, an integer again
    engine.up(program, "dev")
    outputs = engine.outputs(program, "dev")
    assert outputs["countsUrl"] == outputs["url"] + "/stats" and outputs["tableName"].startswith("hits-table")
    assert outputs["countsApiKey"] == "[secret]" and engine.outputs(program, "dev", show_secrets=True)["countsApiKey"]
    assert harness.changes(engine.preview_json(program, "dev", "--expect-no-changes")) == {}
    engine.destroy(program, "dev")
    assert engine.resources(program, "dev") == []


def test_a_bad_value_from_yaml_stops_the_preview_in_one_line_naming_the_property(schema, clone, tmp_path):
    from route_counter.infra import settings

    engine = Engine(tmp_path / "backend")
    text = YAML_COUNTER.format(provider=clone / "provider").replace("memorySize: 512", "memorySize: 99999")
    program = yaml_program(tmp_path, "yaml-site", text)
    engine.new_stack(program, "dev")
    result = engine.preview(program, "dev", ok=False)
    with pytest.raises(settings.SettingsError) as python_says:  # what the ready-made program says of the key
        settings.parse({"memorySize": 99999})
    assert result.code != 0
    assert result.out.count(f"property memorySize with value 99999 has a problem: {python_says.value}") == 1
    assert "Traceback" not in result.text and 'File "' not in result.text
    assert engine.resources(program, "dev") == []
    nothing = yaml_program(tmp_path, "yaml-meter", "name: yaml-meter\nruntime: yaml\npackages:\n"
                           f"  route-counter: {clone / 'provider'}\nresources:\n  meter:\n"
                           "    type: route-counter:ApiMeter\n    properties:\n      protectData: false\n")
    engine.new_stack(nothing, "dev")
    refused = engine.preview(nothing, "dev", ok=False)
    assert refused.code != 0 and "give sources (names: a log group is made for each) or logGroups" in refused.out
    assert "Traceback" not in refused.text and 'File "' not in refused.text


YAML_METER = """name: yaml-meter
runtime: yaml
packages:
  route-counter: {provider}
resources:
  meter:
    type: route-counter:ApiMeter
    properties:
      sources: [shop]
      protectData: false
      apiGatewayLogsRole: true
  api:
    type: aws:apigateway:RestApi
    properties:
      body:
        fn::toJSON:
          openapi: 3.0.1
          info: {{title: shop, version: "1.0"}}
          paths:
            /orders:
              get:
                x-amazon-apigateway-integration:
                  type: mock
                  requestTemplates: {{application/json: '{{"statusCode": 200}}'}}
  deployment:
    type: aws:apigateway:Deployment
    properties:
      restApi: ${{api.id}}
      triggers:
        body: ${{api.body}}
  stage:
    type: aws:apigateway:Stage
    properties:
      restApi: ${{api.id}}
      deployment: ${{deployment.id}}
      stageName: prod
      accessLogSettings:
        destinationArn: ${{meter.logGroupArns["shop"]}}
        format: ${{meter.accessLogFormats["rest"]}}
  suffix:
    type: random:RandomBytes
    properties:
      length: 4
outputs:
  meterTable: ${{meter.meterTableName}}
  logGroups: ${{meter.logGroupNames}}
  stageLog: ${{stage.accessLogSettings}}
  suffix: ${{suffix.hex}}
"""


def test_a_yaml_program_meters_the_rest_api_it_declares_with_an_api_meter(schema, clone, tmp_path):
    """The YAML host resolves aws:apigateway:* and random:RandomBytes through the stand-ins' schemas, and the
    stage's access log takes what the ApiMeter outputs (the account's logging role first, as AWS wants)."""
    from route_counter.handler.rules import accesslog

    engine = Engine(tmp_path / "backend")
    program = yaml_program(tmp_path, "yaml-meter", YAML_METER.format(provider=clone / "provider"))
    engine.new_stack(program, "dev")
    created = harness.created_types(engine.preview_json(program, "dev"))
    assert created["route-counter:index:ApiMeter"] == 1 and created["aws:apigateway/stage:Stage"] == 1
    engine.up(program, "dev")
    outputs = engine.outputs(program, "dev")
    group = outputs["logGroups"]["shop"]
    assert outputs["stageLog"]["destinationArn"].endswith(f":log-group:{group}")
    assert outputs["stageLog"]["format"] == accesslog.FORMATS["rest"] and len(outputs["suffix"]) == 8
    assert harness.changes(engine.preview_json(program, "dev", "--expect-no-changes")) == {}
    engine.destroy(program, "dev")
    assert engine.resources(program, "dev") == []
