"""route-counter as a Pulumi package (provider/PulumiPlugin.yaml): RouteCounter and ApiMeter for programs in
any Pulumi language, served by the SDK's component host, which infers the package schema from the type
annotations of the classes here.

Nothing is declared twice. The inputs are Pulumi.yaml's config keys (snake_case here, camelCase in the
schema, as the ready-made program's keys are), each plain-typed, so the SDK marks it `plain`: it reaches
the component as a value and is validated when the component is built, with the ready-made program's
one-line message naming the key. The outputs are the Python components' own (their OUTPUT_DOCS).
Descriptions, defaults and which outputs are secret are added to the inferred schema from those same places.
"""

# No `from __future__ import annotations`: the component host reads these annotations as types, not strings.

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Optional, TypedDict

import pulumi
from pulumi.errors import InputPropertyError
from pulumi.output import Inputs
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult

from route_counter.handler.rules import accesslog
from route_counter.infra import component, meter_component
from route_counter.infra import settings as stack
from route_counter.infra.args import CONFIG_TYPES, snake

NAME = "route-counter"
# Outputs that are not strings: the access-log formats a metered stage needs, by kind of API.
_OUTPUT_TYPES: dict[str, Any] = {component.OUTPUT_METER_FORMAT: dict[str, str]}
_SECRET_OUTPUTS = {component.OUTPUT_COUNTS_API_KEY}

# Argument types made from Pulumi.yaml, not written out (so mypy sees only their use).
_typed_dict: Any = TypedDict
# Every config key, optional: a key left out takes its Pulumi.yaml default.
RouteCounterInputs = _typed_dict(
    "RouteCounterInputs", {snake(key): CONFIG_TYPES[spec["type"]] for key, spec in stack.schema().items()}, total=False)


class RouteCounter(component.RouteCounter):
    """A REST API whose every route is counted, a read-only listing with its dashboard and badges, and the
    table behind them (the ready-made program's stack, as one component)."""

    def __init__(self, name: str, args: RouteCounterInputs,  # type: ignore[valid-type]
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        passed: dict[str, Any] = dict(args)
        given = {key: value for key, value in passed.items() if value is not None}
        config = {key: given.get(snake(key)) for key in stack.schema()}
        scope = (pulumi.get_project(), component.scoped_stack(pulumi.get_stack(), name, project=pulumi.get_project()))
        try:  # parsed by config key, so the message names the property as a YAML or TypeScript program wrote it
            settings = stack.parse(config, project_stack=scope)
        except stack.SettingsError as exc:
            raise pulumi.RunError(f"RouteCounter {name}: {exc}") from None
        super().__init__(name, settings, opts)


# The outputs, each an attribute of the component (None when its option is off).
RouteCounter.__annotations__ = {
    output: Optional[pulumi.Output[_OUTPUT_TYPES.get(output, str)]]  # type: ignore[misc]
    for output in component.OUTPUTS
}


# ApiMeter's settings: the config keys the Python ApiMeterArgs shares with RouteCounterArgs.
_METER_KEYS = {key: spec for key, spec in stack.schema().items() if snake(key) in meter_component._SHARED}
ApiMeterInputs = _typed_dict(
    "ApiMeterInputs", {"sources": list[str], "log_groups": dict[str, pulumi.Input[str]],
                       **{snake(key): CONFIG_TYPES[spec["type"]] for key, spec in _METER_KEYS.items()}}, total=False)
# What the Python ApiMeter's access_log_settings() gives a stage, as outputs a program in any language reads.
_METER_OUTPUT_DOCS = {
    **meter_component.OUTPUT_DOCS,
    "log_group_arns": "each source's log group ARN: its stage's accessLogSettings destinationArn",
    "access_log_formats": "the access-log format metering reads, by kind of API (rest, http): its stage's "
                          "accessLogSettings format",
}
_METER_OUTPUT_TYPES: dict[str, Any] = {"log_group_names": dict[str, str], "log_group_arns": dict[str, str],
                                       "access_log_formats": dict[str, str]}
_SOURCES_DOC = ("The APIs to meter, each by the name its routes count under (shop: GET /users/7 counts as "
                "/shop/users/7). Each gets a log group: point its stage's access log there (logGroupArns, "
                "accessLogFormats). Or logGroups.")
_LOG_GROUPS_DOC = ("Instead of sources: the APIs to meter by name, each with the log group it already logs to "
                   "(shop: /aws/apigateway/shop-prod, or another stack's output).")


class ApiMeter(meter_component.ApiMeter):
    """Meters the access logs of APIs you run: per route and per API key, in its own tables."""

    def __init__(self, name: str, args: ApiMeterInputs,  # type: ignore[valid-type]
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        # Provider.construct has checked the inputs by property name; the Python ApiMeter checks them again.
        passed: dict[str, Any] = dict(args)
        given = {key: value for key, value in passed.items() if value is not None}
        names = [str(source) for source in given.pop("sources", None) or []]
        sources: list[str] | dict[str, Any] = names or dict(given.pop("log_groups", None) or {})
        given.pop("log_groups", None)
        defaults = {snake(key): spec["default"] for key, spec in _METER_KEYS.items()}
        super().__init__(name, meter_component.ApiMeterArgs(sources=sources, **{**defaults, **given}), opts)
        self.log_group_arns = pulumi.Output.from_input(
            {source: self.access_log_settings(source).destination_arn for source in self.log_groups})
        self.access_log_formats = pulumi.Output.from_input(dict(accesslog.FORMATS))


ApiMeter.__annotations__ = {
    output: pulumi.Output[_METER_OUTPUT_TYPES.get(output, str)]  # type: ignore[misc]
    for output in _METER_OUTPUT_DOCS
}


def version() -> str:
    """The package's version: the installed distribution's, else the checkout's pyproject.toml."""
    try:
        return metadata.version(NAME)
    except metadata.PackageNotFoundError:
        text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
        return text.split('\nversion = "', 1)[1].split('"', 1)[0]


def _described(schema: dict[str, Any]) -> dict[str, Any]:
    """The inferred schema, with each input's description and default (Pulumi.yaml) and each output's
    description and secrecy (the components' OUTPUT_DOCS)."""
    config = {**stack.schema(), "sources": {"description": _SOURCES_DOC}, "logGroups": {"description": _LOG_GROUPS_DOC}}
    for token, outputs in (("RouteCounter", component.OUTPUT_DOCS), ("ApiMeter", _METER_OUTPUT_DOCS)):
        resource = schema["resources"][f"{NAME}:index:{token}"]
        for key, prop in resource.get("inputProperties", {}).items():
            prop["description"] = config[key]["description"]
            if "default" in config[key]:
                prop["default"] = config[key]["default"]
        for key, prop in resource.get("properties", {}).items():
            output = snake(key)
            prop["description"] = outputs[output]
            if output in _SECRET_OUTPUTS:
                prop["secret"] = True
    return schema


def _plain(inputs: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """The engine's numbers are floats: an integer key's whole number becomes an int (512.0 -> 512); any
    other value is left for the settings parse to refuse."""
    return {key: int(value) if keys.get(key, {}).get("type") == "integer" and isinstance(value, float)
            and value.is_integer() else value for key, value in inputs.items()}


def _problem(keys: dict[str, Any], inputs: dict[str, Any]) -> tuple[str, str] | None:
    """(the property, the one-line reason) if the inputs are settings the ready-made program would refuse."""
    try:
        stack.parse({key: inputs.get(key) for key in keys})
    except stack.SettingsError as exc:
        message = str(exc)
        named = [key for key in keys if re.search(rf"\b{key}\b", message)]
        first = min(named, key=message.index) if named else ""
        return first, message
    return None


class Provider(ComponentProvider):
    """The SDK's component provider for route-counter's components, with the schema described."""

    def __init__(self) -> None:
        super().__init__([RouteCounter, ApiMeter], NAME, None, version())
        self.schema = json.dumps(_described(json.loads(self.schema or "{}")))

    def construct(self, name: str, resource_type: str, inputs: Inputs,
                  options: Optional[pulumi.ResourceOptions] = None) -> ConstructResult:
        """A bad setting is refused before the component is made, as the property it is (the CLI shows
        the property and the reason, without a traceback)."""
        meter = resource_type.endswith(":ApiMeter")
        keys = _METER_KEYS if meter else stack.schema()
        inputs = _plain(dict(inputs), keys)
        problem = _problem(keys, inputs)
        if meter and bool(inputs.get("sources")) == bool(inputs.get("logGroups")):
            problem = ("sources", "give sources (names: a log group is made for each) or logGroups (names and the "
                                  "log groups they log to), one of them")
        if problem:
            raise InputPropertyError(*problem)
        return super().construct(name, resource_type, inputs, options)


def serve(args: list[str]) -> None:
    """Run the provider as the Pulumi engine starts a plugin: ARGS are the engine's (its address last)."""
    from pulumi.provider import main

    main(Provider(), args)
