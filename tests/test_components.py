"""The components as a program of your own uses them (docs/component.md), under Pulumi's mocks: typed
arguments validated as the config keys are, two RouteCounters side by side, ApiMeter alone and with a
RouteCounter, and examples/meter-my-api exactly as a user copies it."""

from __future__ import annotations

import dataclasses
import json
import runpy

import pulumi
import pytest

from route_counter.handler.rules import accesslog
from route_counter.infra import settings as stack
from route_counter.infra.args import RouteCounterArgs, settings_of, snake
from tests.stack import PROJECT, ROOT, Recorder, everything

EXAMPLE = ROOT / "examples" / "meter-my-api"


def run(program, stack_name: str = "dev") -> Recorder:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack_name, preview=False)
    pulumi.runtime.set_all_config({})
    program()
    return recorder


def test_every_config_key_is_an_argument_with_its_type_default_and_description():
    fields = {f.name: f for f in dataclasses.fields(RouteCounterArgs)}
    for key, spec in stack.schema().items():
        field = fields[snake(key)]
        assert field.default == spec["default"] and field.metadata["description"] == spec["description"]
        assert field.type is {"string": str, "integer": int, "boolean": bool}[spec["type"]]
    assert len(fields) == len(stack.schema())
    assert settings_of(RouteCounterArgs()) == stack.parse({})


def test_a_bad_argument_is_refused_by_name_as_its_config_key_is():
    with pytest.raises(stack.SettingsError, match="^memory_size must be an integer from 128 to 10240, got 99999$"):
        settings_of(RouteCounterArgs(memory_size=99999))
    with pytest.raises(stack.SettingsError, match="^counts_path must be"):
        settings_of(RouteCounterArgs(counts_path="a/b"))


@pulumi.runtime.test
def test_two_route_counters_in_one_program_share_no_name():
    from route_counter import RouteCounter

    made = {}

    def program():
        made["a"] = RouteCounter("site", RouteCounterArgs(protect_data=False, meter_log_group=True))
        made["b"] = RouteCounter("docs", RouteCounterArgs(protect_data=False, meter_log_group=True, waf_rate_limit=1000))

    recorder = run(program)

    def check(_):
        names = [r.name for r in recorder.resources.values()]
        assert len(names) == len(set(names))  # logical names, hence URNs
        fixed = [r.inputs.get(k) for r in recorder.resources.values()
                 for k in ("dashboardName", "name") if isinstance(r.inputs.get(k), str)]
        assert len(fixed) == len(set(fixed)), sorted(n for n in fixed if fixed.count(n) > 1)
        boards = sorted(r.inputs["dashboardName"] for r in recorder.of_type("aws:cloudwatch/dashboard:Dashboard"))
        assert boards == ["route-counter-dev_docs-us-east-1", "route-counter-dev_site-us-east-1"]

    return pulumi.Output.all(everything(made["a"]), everything(made["b"])).apply(check)


@pulumi.runtime.test
def test_outputs_are_attributes_and_the_api_key_is_a_secret():
    from route_counter import RouteCounter

    made = {}
    recorder = run(lambda: made.setdefault("rc", RouteCounter("site", RouteCounterArgs(counts_access="apiKey"))))
    counter = made["rc"]
    assert counter.domain_target is None and counter.meter_table_name is None

    def check(values):
        url, counts_url, table = values
        assert counts_url == url + "/_counts" and table.startswith("site-table-")
        assert recorder.of_type("aws:apigateway/apiKey:ApiKey")

    assert counter.counts_api_key is not None
    return pulumi.Output.all(counter.url, counter.counts_url, counter.table_name, everything(counter)).apply(
        lambda values: check(values[:3]))


@pulumi.runtime.test
def test_an_api_meter_alone_creates_a_group_per_name_and_gives_the_stage_its_settings():
    from route_counter import ApiMeter, ApiMeterArgs

    made = {}

    def program():
        made["m"] = meter = ApiMeter("meter", ApiMeterArgs(sources=["shop", "billing"], protect_data=False))
        made["rest"] = meter.access_log_settings("shop")
        made["http"] = meter.access_log_settings("billing", kind="http")

    recorder = run(program)

    def check(_):
        groups = {r.name: r for r in recorder.of_type("aws:cloudwatch/logGroup:LogGroup")}
        assert {"meter-shop-access-logs", "meter-billing-access-logs"} <= set(groups)
        filters = {r.name: r.inputs for r in recorder.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")}
        assert set(filters) == {"meter-meter-shop", "meter-meter-billing"}
        assert filters["meter-meter-shop"]["name"] == "route-counter-dev_meter-meter-shop"
        (function,) = [r for r in recorder.of_type("aws:lambda/function:Function")]
        env = function.inputs["environment"]["variables"]
        assert env["METER_SOURCES"] == "shop=meter-shop-access-logs-1a2b3c4,billing=meter-billing-access-logs-1a2b3c4"
        assert not recorder.of_type("aws:apigateway/restApi:RestApi")  # metering only: no counter API
        assert len(recorder.of_type("aws:dynamodb/table:Table")) == 2  # its counts, its markers and usage

    import pulumi_aws as aws

    assert isinstance(made["rest"], aws.apigateway.StageAccessLogSettingsArgs)
    assert isinstance(made["http"], aws.apigatewayv2.StageAccessLogSettingsArgs)
    assert made["rest"].format == accesslog.FORMATS["rest"] and made["http"].format == accesslog.FORMATS["http"]
    with pytest.raises(ValueError, match="meters no source 'nope'"):
        made["m"].access_log_settings("nope")
    def arn(value):
        assert value.endswith(":log-group:meter-shop-access-logs-1a2b3c4")

    return pulumi.Output.all(everything(made["m"]), made["rest"].destination_arn.apply(arn)).apply(check)


@pulumi.runtime.test
def test_an_api_meter_writes_into_a_route_counter_s_table():
    from route_counter import ApiMeter, ApiMeterArgs, RouteCounter

    made = {}

    def program():
        made["rc"] = rc = RouteCounter("site", RouteCounterArgs(protect_data=False), api_meter_sources=["shop"])
        made["m"] = ApiMeter("meter", ApiMeterArgs(sources={"shop": "/aws/apigateway/shop"}, counts_table=rc.table))
        made["other"] = RouteCounter("docs", RouteCounterArgs(protect_data=False, meter_log_group=True))

    recorder = run(program)

    def check(values):
        table_name, counts_table_name = values
        assert table_name == counts_table_name
        # The paired counter leaves /shop/... to the logs, as `meter` makes it (404 reserved_route); the
        # other counter keeps its own metered name alone.
        metered = {r.name: r.inputs["environment"]["variables"]["METERED"]
                   for r in recorder.of_type("aws:lambda/function:Function") if r.name.endswith("-counter")}
        assert metered == {"site-counter": "shop", "docs-counter": "api"}
        tables = [r.name for r in recorder.of_type("aws:dynamodb/table:Table")]
        assert sorted(tables) == ["docs-meter-table", "docs-table", "meter-meter-table", "site-table"]  # no counts table of the meter's
        (meter_fn,) = [r for r in recorder.of_type("aws:lambda/function:Function") if r.name == "meter-meter"]
        assert meter_fn.inputs["environment"]["variables"]["TABLE_NAME"] == table_name
        assert not [r for r in recorder.of_type("aws:cloudwatch/logGroup:LogGroup") if r.name.startswith("meter-") and "access-logs" in r.name]

    return pulumi.Output.all(made["rc"].table_name, made["m"].counts_table_name, everything(made["m"]),
                             everything(made["rc"])).apply(lambda v: check(v[:2]))


@pytest.mark.parametrize("left, sources, message", [
    ((), ["shop"], r"ApiMeter meter: RouteCounter site would count public hits on /shop/\.\.\. into the metered "
                   r"routes: make it with api_meter_sources=\['shop'\]"),
    (["shop"], ["shop", "billing"], r"make it with api_meter_sources=\['billing', 'shop'\]"),
    (["api"], ["api"], "RouteCounter site meters api itself"),
])
def test_an_api_meter_writes_only_into_a_route_counter_that_leaves_it_its_routes(left, sources, message):
    from route_counter import ApiMeter, ApiMeterArgs, RouteCounter

    def program():
        rc = RouteCounter("site", RouteCounterArgs(protect_data=False, meter_log_group=True), api_meter_sources=left)
        ApiMeter("meter", ApiMeterArgs(sources=sources, counts_table=rc.table))

    with pytest.raises(pulumi.RunError, match=message):
        run(program)


def test_api_meter_sources_are_checked_as_meter_names_are():
    from route_counter import RouteCounter

    for bad, message in (("shop", "must be a list of names"), (["Shop"], "is not a metered API's name")):
        with pytest.raises(pulumi.RunError, match=f"RouteCounter site: api_meter_sources.*{message}"):
            run(lambda given=bad: RouteCounter("site", RouteCounterArgs(protect_data=False), api_meter_sources=given))


def test_api_meter_names_are_checked_as_meter_names_are():
    from route_counter import ApiMeter, ApiMeterArgs

    for sources in (["Shop"], [], ["hello"]):
        with pytest.raises(pulumi.RunError, match="ApiMeter meter"):
            run(lambda given=sources: ApiMeter("meter", ApiMeterArgs(sources=given)))


def test_a_bare_string_of_sources_is_refused_not_split_into_letters():
    from route_counter import ApiMeter, ApiMeterArgs

    with pytest.raises(pulumi.RunError, match=r"ApiMeter meter: sources must be a list .*write \['shop'\]"):
        run(lambda: ApiMeter("meter", ApiMeterArgs(sources="shop")))


@pytest.mark.parametrize("name", ["blog api", "blog_api", "-api", "api-", "x" * 41, "blög", "a/b"])
def test_a_component_name_aws_would_refuse_in_a_physical_name_stops_in_one_line(name):
    from route_counter import ApiMeter, ApiMeterArgs, RouteCounter

    with pytest.raises(pulumi.RunError, match="a component's name goes into AWS names"):
        run(lambda: RouteCounter(name, RouteCounterArgs(protect_data=False)))
    with pytest.raises(pulumi.RunError, match="ApiMeter"):
        run(lambda: ApiMeter(name, ApiMeterArgs(sources=["shop"])))


def test_no_two_stack_and_component_pairs_share_a_fixed_name():
    """Stack ``prod`` with component ``blog-api`` and stack ``prod-blog`` with component ``api`` once shared
    their subscription filter, own log group, dashboard and WAF metric names."""
    from route_counter.infra import guards, metering, observability
    from route_counter.infra.component import scoped_stack
    from route_counter.infra.settings import own_group_name

    a, b = scoped_stack("prod", "blog-api"), scoped_stack("prod-blog", "api")
    for make in (lambda s: metering.filter_name("p", s, "shop"), lambda s: own_group_name("p", s),
                 lambda s: observability.dashboard_name("p", s, "us-east-1"), lambda s: guards.waf_metric_name("p", s, "waf")):
        assert make(a) != make(b)
    assert scoped_stack("prod", "route-counter") == "prod"  # the ready-made program's names never change


@pulumi.runtime.test
def test_the_example_meters_its_own_api_by_route_and_key():
    program = {}
    recorder = run(lambda: program.update(runpy.run_path(str(EXAMPLE / "__main__.py"))))

    def check(_):
        (stage,) = recorder.of_type("aws:apigateway/stage:Stage")
        settings = stage.inputs["accessLogSettings"]
        assert settings["format"] == accesslog.FORMATS["rest"]
        assert settings["destinationArn"].endswith(":log-group:meter-shop-access-logs-1a2b3c4")
        body = json.loads(recorder.of_type("aws:apigateway/restApi:RestApi")[0].inputs["body"])
        assert set(body["paths"]) == {"/products", "/orders/{id}"}
        assert recorder.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")
        (function,) = recorder.of_type("aws:lambda/function:Function")
        assert function.inputs["environment"]["variables"]["ROUTE_TEMPLATES"] == "/orders/{id}"
        assert len((EXAMPLE / "__main__.py").read_text().splitlines()) <= 40

    made = [program[name].urn for name in ("api", "deployment", "stage", "plan", "key", "subscribed")]
    return pulumi.Output.all(everything(program["meter"]), *made).apply(check)


DOCS = ROOT / "docs" / "component.md"
START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def reference() -> str:
    """docs/component.md's reference, from the code: each argument's type, default and description, and
    each output."""
    from route_counter.infra import component, meter_component

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["### `RouteCounterArgs`", "", "| argument | type | default | what |", "|---|---|---|---|"]
    for f in dataclasses.fields(RouteCounterArgs):
        lines.append(f"| `{f.name}` | {f.type.__name__} | `{f.default!r}` | {cell(f.metadata['description'])} |")
    lines += ["", "### `RouteCounter` outputs (attributes of the same name; `None` when off)", "",
              "| output | what |", "|---|---|"]
    lines += [f"| `{name}` | {cell(doc)} |" for name, doc in component.OUTPUT_DOCS.items()]
    lines += ["", "### `ApiMeterArgs`", "", "| argument | type | default |", "|---|---|---|"]
    for f in dataclasses.fields(meter_component.ApiMeterArgs):
        default = "required" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING \
            else f"`{(f.default_factory() if f.default is dataclasses.MISSING else f.default)!r}`"
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        lines.append(f"| `{f.name}` | {cell(kind)} | {default} |")
    lines += ["", "### `ApiMeter` outputs (attributes of the same name)", "", "| output | what |", "|---|---|"]
    lines += [f"| `{name}` | {cell(doc)} |" for name, doc in meter_component.OUTPUT_DOCS.items()]
    return "\n".join(lines)


def test_the_component_reference_is_generated_from_the_code():
    shown = DOCS.read_text().split(START, 1)[1].split(END, 1)[0].strip()
    assert shown == reference(), f"update docs/component.md between the markers with:\n{reference()}"
