"""ApiMeter: meter APIs you already run from their API Gateway access logs, as one component in your own
Pulumi program. It builds what the ``meter`` key builds in the ready-made stack (route_counter.infra.metering):
the metering function, one subscription per log group with the permission CloudWatch Logs needs, retries
and a dead-letter queue, alarms, the metering table; and the counts table, unless it writes into a
RouteCounter's (whose listing and dashboard then show the metered routes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from route_counter.handler.rules import accesslog
from route_counter.handler.rules.settings import METER_SOURCES
from route_counter.infra import functions, metering, observability, pairing
from route_counter.infra.args import RouteCounterArgs, settings_of
from route_counter.infra.asset import asset_files
from route_counter.infra.component import counts_table, scoped_stack
from route_counter.infra.settings import SettingsError


@dataclass(frozen=True, kw_only=True)
class ApiMeterArgs:
    """What ApiMeter meters and how.

    sources: the APIs, each by the name its routes count under (``shop``: ``GET /users/7`` counts as
    ``/shop/users/7``). A list of names creates a log group for each (point your stage's access log at it:
    ``access_log_settings``); a mapping of names to log group names (or Outputs of them: another stack's)
    meters groups you already have.
    counts_table: write the counts into this table (a RouteCounter's ``table``) instead of one of its own.
    route_templates, allow_prefixes, timezone, route_expiry_days, log_retention_days, memory_size,
    architecture, tracing, protect_data, alarm_email, api_gateway_logs_role: as the ready-made program's
    config keys of those names (docs/component.md), with the same defaults and the same validation.
    api_gateway_logs_role makes the account's API Gateway CloudWatch role, without which AWS refuses a
    REST API stage's access log on a new account; ``access_log_settings`` then waits for it.
    """

    sources: Sequence[str] | Mapping[str, pulumi.Input[str]]
    counts_table: aws.dynamodb.Table | None = None
    route_templates: str = field(default_factory=lambda: RouteCounterArgs().route_templates)
    allow_prefixes: str = field(default_factory=lambda: RouteCounterArgs().allow_prefixes)
    timezone: str = field(default_factory=lambda: RouteCounterArgs().timezone)
    route_expiry_days: int = field(default_factory=lambda: RouteCounterArgs().route_expiry_days)
    log_retention_days: int = field(default_factory=lambda: RouteCounterArgs().log_retention_days)
    memory_size: int = field(default_factory=lambda: RouteCounterArgs().memory_size)
    architecture: str = field(default_factory=lambda: RouteCounterArgs().architecture)
    tracing: bool = field(default_factory=lambda: RouteCounterArgs().tracing)
    protect_data: bool = field(default_factory=lambda: RouteCounterArgs().protect_data)
    alarm_email: str = field(default_factory=lambda: RouteCounterArgs().alarm_email)
    api_gateway_logs_role: bool = field(default_factory=lambda: RouteCounterArgs().api_gateway_logs_role)


# The ApiMeterArgs fields that are RouteCounterArgs fields too: validated by the same parse.
_SHARED = ("route_templates", "allow_prefixes", "timezone", "route_expiry_days", "log_retention_days", "memory_size",
           "architecture", "tracing", "protect_data", "alarm_email", "api_gateway_logs_role")


# ApiMeter's outputs, what each is (docs/component.md is generated from this).
OUTPUT_DOCS = {
    "meter_table_name": "the metering table: batch markers and usage per API key",
    "counts_table_name": "the table the counts go to (its own, or counts_table's)",
    "dead_letter_queue_url": "deliveries that failed every try wait here (python -m counts meter-replay)",
    "log_group_names": "each source's log group name",
}


class ApiMeter(pulumi.ComponentResource):
    """Meters the access logs of APIs you run. Attributes: ``log_groups`` (name -> log group name),
    ``function``, ``meter_table``, ``counts_table``, ``dead_letter_queue``, ``alarm_topic``, ``logs_role``; outputs
    ``meter_table_name``, ``counts_table_name``, ``dead_letter_queue_url`` and ``log_group_names``."""

    def __init__(self, name: str, args: ApiMeterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("route-counter:index:ApiMeter", name, None, opts)
        scope = (pulumi.get_project(), scoped_stack(pulumi.get_stack(), name, "ApiMeter", pulumi.get_project()))
        if isinstance(args.sources, (str, bytes)):  # a string is a sequence too: "shop" would meter s, h, o, p
            raise pulumi.RunError(f"ApiMeter {name}: sources must be a list of names or a mapping of names to log "
                                  f"groups, got the string {args.sources!r} (write [{args.sources!r}])")
        given = dict(args.sources) if isinstance(args.sources, Mapping) else {source: None for source in args.sources}
        if not given:
            raise pulumi.RunError(f"ApiMeter {name}: sources names no API to meter")
        try:
            shared = RouteCounterArgs(**{key: getattr(args, key) for key in _SHARED})
            settings = settings_of(shared, project_stack=scope).with_meter_in_code(given)
        except SettingsError as exc:
            raise pulumi.RunError(f"ApiMeter {name}: {exc}") from None
        refused = pairing.problem(args.counts_table, given) if args.counts_table is not None else None
        if refused:  # a RouteCounter's table whose counter would count these routes too
            raise pulumi.RunError(f"ApiMeter {name}: {refused}")
        self._name = name
        child = pulumi.ResourceOptions(parent=self)

        def opts_(**kwargs: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(**kwargs))

        self._created = created = {source: aws.cloudwatch.LogGroup(f"{name}-{source}-access-logs",
                                                   retention_in_days=settings.log_retention_days, opts=opts_())
                   for source, group in given.items() if group is None}
        self.log_groups: dict[str, pulumi.Input[str]] = {
            source: created[source].name if group is None else group for source, group in given.items()}
        self.logs_role = observability.apigateway_logs_role(name, self, opts_()) if args.api_gateway_logs_role else None
        self.counts_table = args.counts_table or counts_table(name, settings, opts_)
        self.meter_table = metering.create_table(name, settings.protect_data, opts_())
        _, self.dead_letter_queue = metering.create_sources(name, settings, *scope, opts_())
        self.alarm_topic = aws.sns.Topic(f"{name}-alarms", opts=opts_())
        if settings.alarm_email:
            aws.sns.TopicSubscription(f"{name}-alarm-email", topic=self.alarm_topic.arn, protocol="email",
                                      endpoint=settings.alarm_email, opts=opts_())
        environment = settings.function_environment("meter", self.counts_table.name, meter_table=self.meter_table.name)
        environment[METER_SOURCES] = metering.sources_in_code(settings, "", self.log_groups)
        code = pulumi.AssetArchive({path: pulumi.FileAsset(str(file)) for path, file in asset_files(settings.timezone).items()})
        self.function = functions.create(
            f"{name}-meter", "meter", metering.METER_HANDLER, settings, self.counts_table.arn,
            metering.METER_COUNTS_ACTIONS, code, environment, metering.METER_TIMEOUT, settings.memory_size, None, opts_,
            log_level="INFO", extra_statements=[
                {"Sid": "MeterTable", "Effect": "Allow", "Action": list(metering.METER_TABLE_ACTIONS),
                 "Resource": self.meter_table.arn},
                {"Sid": "DeadLetters", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                 "Resource": self.dead_letter_queue.arn}])
        self.wiring = metering.wire(name, settings, self.function.function, None, self.dead_letter_queue,
                                    self.alarm_topic, *scope, opts_, self.log_groups)
        self.meter_table_name = self.meter_table.name
        self.counts_table_name = self.counts_table.name
        self.dead_letter_queue_url = self.dead_letter_queue.url
        self.log_group_names = pulumi.Output.from_input(self.log_groups)
        self.outputs: dict[str, pulumi.Output[Any]] = {name: getattr(self, name) for name in OUTPUT_DOCS}
        self.register_outputs(self.outputs)

    def access_log_settings(self, source: str, kind: Literal["rest", "http"] = "rest") -> Any:
        """What your stage needs to send its access log here: ``StageAccessLogSettingsArgs`` for a REST API's
        ``aws.apigateway.Stage`` (kind "rest"), the apigatewayv2 one for an HTTP API's stage (kind "http"),
        with the source's log group and the access-log format metering reads."""
        if source not in self.log_groups:
            raise ValueError(f"ApiMeter {self._name} meters no source {source!r} (it meters {', '.join(self.log_groups)})")
        if kind not in accesslog.FORMATS:
            raise ValueError(f"kind must be one of {', '.join(accesslog.FORMATS)}, got {kind!r}")
        arn = self._created[source].arn if source in self._created else aws.cloudwatch.get_log_group_output(
            name=self.log_groups[source], opts=pulumi.InvokeOutputOptions(parent=self)).arn
        if self.logs_role is not None:  # the stage's access log only once the account has its role
            arn = pulumi.Output.all(arn, self.logs_role.account.id).apply(lambda known: known[0])
        if kind == "rest":
            return aws.apigateway.StageAccessLogSettingsArgs(destination_arn=arn, format=accesslog.FORMATS["rest"])
        return aws.apigatewayv2.StageAccessLogSettingsArgs(destination_arn=arn, format=accesslog.FORMATS["http"])

