"""RouteCounter: the whole stack as one ComponentResource: the table, the functions (infra/functions.py), the
REST API, and what watches, guards and meters them (infra/observability.py, infra/guards.py,
infra/metering.py)."""

from __future__ import annotations


import inspect
import re
from typing import Any, Callable, Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from route_counter.handler.rules import schema, visitors
from route_counter.handler.rules.settings import METER_SOURCES as ENV_METER_SOURCES, METERED as ENV_METERED
from route_counter.handler.rules.sources import parse_names
from route_counter.infra import domain, downloads, functions, guards, metering, observability, openapi, pairing, policies
from route_counter.infra.asset import asset_files
from route_counter.infra import settings as stack
from route_counter.infra.args import RouteCounterArgs, settings_of
from route_counter.infra.settings import SettingsError, StackSettings

COUNTER_HANDLER = "handler.counter.handler"
LISTING_HANDLER = "handler.listing.handler"
COUNTER_TIMEOUT = 6  # seconds: the writer's retry budget (1 s) plus one attempt's timeouts (3 s), with room
LISTING_TIMEOUT = 10  # seconds: a top=N scan reads up to 50,000 items (docs/deploy.md)

# Stack outputs: README and tests use these names.
OUTPUT_URL = "url"
OUTPUT_COUNTS_URL = "counts_url"
OUTPUT_TABLE_NAME = "table_name"
OUTPUT_COUNTER_FUNCTION = "counter_function_name"
OUTPUT_LISTING_FUNCTION = "listing_function_name"
OUTPUT_DASHBOARD_URL = "dashboard_url"
OUTPUT_COUNTS_API_KEY = "counts_api_key"  # only with countsAccess apiKey; a secret
OUTPUT_DOMAIN_TARGET = "domain_target"  # only with domainName and certificateArn: where your DNS record points
# Metering (meter / meterLogGroup): the formats to paste into a stage, and what the CLI reads.
OUTPUT_METER_FORMAT = "meter_access_log_format"  # {"rest": ..., "http": ...}
OUTPUT_METER_LOG_GROUP = "meter_log_group_arn"  # only with meterLogGroup
OUTPUT_METER_TABLE = "meter_table_name"
OUTPUT_METER_DLQ = "meter_dead_letter_queue_url"
OUTPUT_TABLE_REGIONS = "table_regions"  # only with replicaRegions or replicaOf: the global table's regions, home first
# Each output, what it is (docs/component.md is generated from this).
OUTPUT_DOCS = {
    OUTPUT_URL: "the stage's invoke URL (or https://domainName)",
    OUTPUT_COUNTS_URL: "the listing's URL",
    OUTPUT_TABLE_NAME: "the counts table",
    OUTPUT_COUNTER_FUNCTION: "the counter function",
    OUTPUT_LISTING_FUNCTION: "the listing function",
    OUTPUT_DASHBOARD_URL: "the CloudWatch dashboard",
    OUTPUT_COUNTS_API_KEY: "the listing's API key, a secret (countsAccess apiKey only)",
    OUTPUT_DOMAIN_TARGET: "where your DNS record points (domainName with certificateArn only)",
    OUTPUT_METER_FORMAT: "the access-log formats to give a metered stage, {rest, http} (metering only)",
    OUTPUT_METER_LOG_GROUP: "the log group meterLogGroup made (that key only)",
    OUTPUT_METER_TABLE: "the metering table: markers and usage per API key (metering only)",
    OUTPUT_METER_DLQ: "the metering dead-letter queue (metering only)",
    OUTPUT_TABLE_REGIONS: "the global counts table's regions, home first (replicaRegions or replicaOf only)",
}
OUTPUTS = tuple(OUTPUT_DOCS)


def counts_table(name: str, args: StackSettings, opts: Callable[..., pulumi.ResourceOptions]) -> aws.dynamodb.Table:
    """The counts, one item per route (handler/rules/schema.py): RouteCounter's, and ApiMeter's own."""
    protect = args.protect_data
    return aws.dynamodb.Table(
        f"{name}-table",
        attributes=[aws.dynamodb.TableAttributeArgs(name=schema.KEY, type=schema.KEY_TYPE)],
        hash_key=schema.KEY,
        billing_mode="PAY_PER_REQUEST",
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        deletion_protection_enabled=protect,
        # Always on: Idempotency-Key claims expire after a day, and with routeExpiryDays idle routes too.
        ttl=aws.dynamodb.TableTtlArgs(attribute_name=schema.EXPIRES, enabled=True),
        # replicaRegions: a global table (version 2019.11.21), which replicates through a stream of new and
        # old images; each replica keeps point-in-time recovery like the home table.
        stream_enabled=True if args.replica_regions else None,
        stream_view_type="NEW_AND_OLD_IMAGES" if args.replica_regions else None,
        replicas=[aws.dynamodb.TableReplicaArgs(region_name=region, point_in_time_recovery=True)
                  for region in args.replica_regions] or None,
        opts=opts(protect=protect),
    )


def table_regions(table: aws.dynamodb.Table, replicas: tuple[str, ...]) -> pulumi.Output[str]:
    """TABLE_REGIONS of a global table: its home region (from its ARN), then the replicas."""
    return table.arn.apply(lambda arn: ",".join([arn.split(":")[3], *replicas]))


DEFAULT_NAME = "route-counter"  # the ready-made program's component: its fixed names hold project and stack alone


_COMPONENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?")
# The tightest fixed name made from project, stack and component: a WAF metric name (128 characters,
# guards.waf_metric_name) with its longest suffix.
_WAF_ROOM = 128 - len("-rate-per-ip")


def scoped_stack(stack_name: str, component: str, kind: str = "RouteCounter", project: str = "") -> str:
    """What fixed physical names hold besides the project: the stack, and any component name but the default,
    after an "_" that neither a component name nor the default can hold, so no two (stack, component) pairs
    share names (stack ``prod`` with ``blog-api`` and stack ``prod-blog`` with ``api`` stay apart). A
    component name AWS would refuse in one of those names, or that would make one too long, stops the
    program in one line."""
    if component == DEFAULT_NAME:
        return stack_name
    if not _COMPONENT_NAME.fullmatch(component):
        raise pulumi.RunError(f"{kind} {component!r}: a component's name goes into AWS names (log groups, "
                              "subscription filters, dashboards, WAF metrics): use 1 to 40 letters, digits and "
                              "inner '-'")
    scope = f"{stack_name}_{component}"
    if len(f"{project}-{scope}") > _WAF_ROOM:
        raise pulumi.RunError(f"{kind} {component!r}: project, stack and component names together make a WAF metric "
                              f"name longer than AWS's 128 characters; use a shorter component name")
    return scope




class RouteCounter(pulumi.ComponentResource):
    """API Gateway REST API -> counter / listing Lambdas -> one DynamoDB table, least privilege throughout."""

    def __init__(self, name: str, args: RouteCounterArgs | StackSettings | None = None,
                 opts: pulumi.ResourceOptions | None = None,
                 meter_log_groups: Mapping[str, pulumi.Input[str]] | None = None,
                 api_meter_sources: Sequence[str] = ()) -> None:
        """``args``: RouteCounterArgs (every field defaults to the config key's default), or settings parsed
        from a stack's config (the ready-made program). ``meter_log_groups``: more APIs to meter, name -> log
        group name, given in code rather than by ``meter``: names known now, groups when deployed (another
        stack's outputs, say). ``api_meter_sources``: the sources of an ApiMeter given this ``table``, whose
        routes the counter leaves to it as it does its own metered ones. A bad argument stops the program
        with one line naming it."""
        if not isinstance(args, StackSettings):
            scope = (pulumi.get_project(), scoped_stack(pulumi.get_stack(), name, project=pulumi.get_project()))
            try:
                args = settings_of(args if args is not None else RouteCounterArgs(), project_stack=scope)
            except SettingsError as exc:
                raise pulumi.RunError(f"RouteCounter {name}: {exc}") from None
        in_code = dict(meter_log_groups or {})
        if isinstance(api_meter_sources, (str, bytes)):
            raise pulumi.RunError(f"RouteCounter {name}: api_meter_sources must be a list of names, got the string "
                                  f"{api_meter_sources!r} (write [{api_meter_sources!r}])")
        left_to_meters = list(api_meter_sources)
        try:
            parse_names(",".join(left_to_meters))
        except ValueError as exc:
            raise pulumi.RunError(f"RouteCounter {name}: api_meter_sources: {exc}") from None
        args = args.with_meter_in_code(in_code) if in_code else args
        self._tags = args.resource_tags(pulumi.get_project(), pulumi.get_stack())
        # Every resource that takes tags gets the stack's: one transformation, so none is forgotten.
        tagging = pulumi.ResourceOptions(transformations=[self._tag])
        super().__init__("route-counter:index:RouteCounter", name, None, pulumi.ResourceOptions.merge(opts, tagging))
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)

        self.table, self.table_regions = self._create_table()
        files = stack.downloads(args)
        self.downloads = downloads.create(name, files, self._child) if files else None
        code = pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in asset_files(args.timezone).items()})
        self.visitor_table = self._create_visitor_table() if args.unique_visitors else None
        # The salt's secret: generated per stack, a secret in the state, never an output.
        self.visitor_secret = (random.RandomBytes(f"{name}-visitor-secret", length=32, opts=self._opts())
                               if args.unique_visitors else None)
        # Fixed physical names (the dashboard, WAF metrics, the own log group, subscription filters) hold
        # project and stack, and a second component's own name: two RouteCounters in one stack never share one.
        project = pulumi.get_project()
        stack_name = scoped_stack(pulumi.get_stack(), name, project=project)
        self._scope = stack_name
        self.meter_table = metering.create_table(name, args.protect_data, self._opts()) if args.metering else None
        own_group, queue = metering.create_sources(name, args, project, stack_name, self._opts()) if args.metering \
            else (None, None)
        names = (self.table.name, self.downloads.bucket.bucket if self.downloads else "",
                 self.visitor_table.name if self.visitor_table else "",
                 self.visitor_secret.base64 if self.visitor_secret else "",
                 self.meter_table.name if self.meter_table else "",
                 stack.own_group_name(project, stack_name) if args.meter_log_group else "")
        usage_read = [{"Sid": "Usage", "Effect": "Allow", "Action": list(metering.USAGE_READ_ACTIONS),
                       "Resource": self.meter_table.arn}] if self.meter_table else None
        # The names an ApiMeter given this table meters are the counter's to leave alone too (infra/pairing.py).
        counter_env = args.function_environment("counter", *names, table_regions=self.table_regions)
        counter_env[ENV_METERED] = ",".join([*args.metered_names(), *left_to_meters])
        pairing.register(self.table, name, args.metered_names(), left_to_meters)
        self.counter = self._function(
            "counter", COUNTER_HANDLER,
            policies.COUNTER_TABLE_ACTIONS, code,
            counter_env, COUNTER_TIMEOUT,
            args.memory_size, args.reserved_concurrency, self.downloads.object_arns if self.downloads else None,
            log_level="INFO", visitor_table_arn=self.visitor_table.arn if self.visitor_table else None,
        )
        self.listing = self._function(
            "listing", LISTING_HANDLER, policies.LISTING_TABLE_ACTIONS, code,
            args.function_environment("listing", *names, table_regions=self.table_regions),
            LISTING_TIMEOUT,
            args.listing_memory_size, args.listing_reserved_concurrency, extra_statements=usage_read,
        )
        self.meter = None
        if self.meter_table and queue is not None:
            meter_env = args.function_environment("meter", *names)
            if in_code:
                meter_env[ENV_METER_SOURCES] = metering.sources_in_code(args, names[-1], in_code)
            self.meter = self._function(
                "meter", metering.METER_HANDLER, metering.METER_COUNTS_ACTIONS, code, meter_env,
                metering.METER_TIMEOUT, args.memory_size, None, log_level="INFO", extra_statements=[
                    {"Sid": "MeterTable", "Effect": "Allow", "Action": list(metering.METER_TABLE_ACTIONS),
                     "Resource": self.meter_table.arn},
                    {"Sid": "DeadLetters", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue.arn}])
        self._create_api()
        watched = observability.Watched(self.api, self.stage, self.counter.function, self.listing.function, self.table)
        self.observability = observability.create(name, watched, args.alarm_email, self, self._opts(),
                                                  args.traffic_alarm, args.traffic_anomaly, scope=stack_name)
        self.dashboard_url = self.observability.dashboard_url
        if self.meter and queue is not None:
            self.metering = metering.wire(name, args, self.meter.function, own_group, queue, self.observability.topic,
                                          project, stack_name, self._opts, in_code)
        self._create_guards()

        self.domain = None
        self.url = self.stage.invoke_url
        if args.domain_name:  # the base path mapping maps the domain's root to the stage
            self.domain = domain.create(name, args.domain_name, args.certificate_arn, args.hosted_zone_id,
                                        args.endpoint_type, self.api, self.stage, self._opts())
            self.url = pulumi.Output.concat("https://", self.domain.domain.domain_name)
        self.counts_url = pulumi.Output.concat(self.url, "/", args.counts_path)
        self.outputs: dict[str, pulumi.Output[Any]] = {
            OUTPUT_URL: self.url,
            OUTPUT_COUNTS_URL: self.counts_url,
            OUTPUT_TABLE_NAME: self.table.name,
            **({OUTPUT_TABLE_REGIONS: pulumi.Output.from_input(self.table_regions)} if self.table_regions else {}),
            OUTPUT_COUNTER_FUNCTION: self.counter.function.name,
            OUTPUT_LISTING_FUNCTION: self.listing.function.name,
            OUTPUT_DASHBOARD_URL: self.dashboard_url,
        }
        if self.domain and not args.hosted_zone_id:
            self.outputs[OUTPUT_DOMAIN_TARGET] = self.domain.target
        if self.meter_table and queue is not None:
            self.outputs[OUTPUT_METER_FORMAT] = pulumi.Output.from_input(dict(metering.ACCESS_LOG_FORMATS))
            self.outputs[OUTPUT_METER_TABLE] = self.meter_table.name
            self.outputs[OUTPUT_METER_DLQ] = queue.url
        if own_group is not None:
            self.outputs[OUTPUT_METER_LOG_GROUP] = own_group.arn
        if self.api_key:
            self.outputs[OUTPUT_COUNTS_API_KEY] = pulumi.Output.secret(self.api_key.key.value)
        # Each output is an attribute too (counter.table_name, counter.counts_api_key, ...); None when off.
        for output_name in OUTPUTS:
            setattr(self, output_name, self.outputs.get(output_name))
        self.register_outputs(self.outputs)

    def _tag(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        init = getattr(type(args.resource), "_internal_init", None)
        if init is None or "tags" not in inspect.signature(init).parameters or args.opts.id:
            return None  # the component itself, AWS resources that take no tags, and those only read (get)
        own = args.props.get("tags")
        tags = {**self._tags, **(own if isinstance(own, dict) else {})}
        return pulumi.ResourceTransformationResult({**args.props, "tags": tags}, args.opts)

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(**kwargs))

    def _create_table(self) -> tuple[aws.dynamodb.Table, pulumi.Output[str] | str]:
        """The counts table and its TABLE_REGIONS: a table of its own, or with replicaOf the replica in this
        region of another stack's global table (looked up, never created or deleted here)."""
        args = self._args
        if not args.replica_of:
            table = counts_table(self._name, args, self._opts)
            return table, table_regions(table, args.replica_regions) if args.replica_regions else ""
        home = pulumi.StackReference(f"{self._name}-replica-of", stack_name=args.replica_of, opts=self._opts())
        name = home.require_output(OUTPUT_TABLE_NAME)
        regions = home.require_output(OUTPUT_TABLE_REGIONS)
        own = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region

        def check(found: list[Any]) -> str:
            listed, here = str(found[0]).split(","), str(found[1])
            if here not in listed[1:]:
                raise pulumi.RunError(f"replicaOf: {args.replica_of}'s table has no replica in {here} (its regions: "
                                      f"{', '.join(listed)}); add {here} to its replicaRegions first")
            return str(found[2])

        # The replica is looked up only once the region is known to hold one: a plain "does not exist" from
        # the lookup would say less than the check does.
        checked_name = pulumi.Output.all(regions, own, name).apply(check)
        table = aws.dynamodb.Table.get(f"{self._name}-table", checked_name, opts=self._opts())
        return table, regions.apply(str)

    def _create_visitor_table(self) -> aws.dynamodb.Table:
        """uniqueVisitors: today's visitor markers, each deleted by TTL within two days (handler/rules/visitors.py).
        Nothing here is worth keeping: no point-in-time recovery, no protection."""
        return aws.dynamodb.Table(
            f"{self._name}-visitors",
            attributes=[aws.dynamodb.TableAttributeArgs(name=visitors.MARKER_KEY, type="S")],
            hash_key=visitors.MARKER_KEY,
            billing_mode="PAY_PER_REQUEST",
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=visitors.MARKER_EXPIRES, enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=self._opts(),
        )

    def _function(self, role: str, handler: str, table_actions: tuple[str, ...], code: pulumi.Archive,
                  environment: Mapping[str, pulumi.Input[str]], timeout: int, memory_size: int,
                  reserved_concurrency: int | None, object_arns: list[pulumi.Output[str]] | None = None,
                  **options: Any) -> functions.FunctionParts:
        return functions.create(f"{self._name}-{role}", role, handler, self._args, self.table.arn, table_actions, code,
                                environment, timeout, memory_size, reserved_concurrency, self._opts, object_arns, **options)

    def _create_api(self) -> None:
        args, name = self._args, self._name
        # The whole API is one document (see infra/openapi.py for why); its hash is the Deployment's trigger.
        self.api_body = pulumi.Output.json_dumps(
            openapi.document(
                self.counter.function.invoke_arn, self.listing.function.invoke_arn, args.counts_path, args.cors_origins,
                args.counts_access, (args.throttle_rate_limit, args.throttle_burst_limit),
            )
        )
        self.api = aws.apigateway.RestApi(
            f"{name}-api",
            description="route-counter: every path counts a hit; /" + args.counts_path + " lists the counts",
            body=self.api_body,
            put_rest_api_mode="overwrite",  # paths missing from the document are removed from the API
            # fail_on_warnings stays off (the provider's default): a benign import warning must not stop
            # a first `pulumi up`; the document's shape is pinned by the mock tests instead.
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types=args.endpoint_type),
            opts=self._opts(),
        )
        # Replaced whenever the document changes, after the RestApi has imported it (rest_api=api.id orders
        # them), so the new snapshot holds the new routes and none of the removed ones.
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.api.id,
            description="route-counter deployment",
            triggers={"redeployment": self.api_body.apply(openapi.digest)},
            opts=self._opts(depends_on=[self.api]),
        )
        # Access and execution logs need the account's API Gateway logging role: set first, when this stack owns it.
        self.logs_role = observability.apigateway_logs_role(name, self, self._opts()) if args.apigateway_logs_role else None
        after_role = [self.logs_role.account] if self.logs_role else []
        access_log_settings = None
        if args.access_logs:
            self.access_log_group = aws.cloudwatch.LogGroup(
                f"{name}-access-logs", retention_in_days=args.log_retention_days, opts=self._opts()
            )
            access_log_settings = aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn, format=ACCESS_LOG_FORMAT
            )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.api.id,
            deployment=self.deployment.id,
            stage_name=args.stage_name,
            xray_tracing_enabled=args.tracing,
            access_log_settings=access_log_settings,
            opts=self._opts(depends_on=after_role),
        )
        self.method_settings = aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                # Per-method metrics are billed as custom metrics; the API-wide Count, 4XX, 5XX and latency
                # metrics the alarms use are published (free) without them.
                metrics_enabled=args.detailed_metrics,
                throttling_rate_limit=args.throttle_rate_limit,
                throttling_burst_limit=args.throttle_burst_limit,
                # Execution logging needs the same account-level CloudWatch role as access logs.
                logging_level="ERROR" if args.access_logs else "OFF",
            ),
            opts=self._opts(depends_on=after_role),
        )
        # Invocation rights, per function and per path, from this API's stage only.
        source = pulumi.Output.concat(self.api.execution_arn, "/", self.stage.stage_name, "/*/")
        self.permissions = [
            self._permission("counter-root", self.counter, source),
            self._permission("counter-proxy", self.counter, pulumi.Output.concat(source, "*")),
            self._permission("listing", self.listing, pulumi.Output.concat(source, args.counts_path)),
            self._permission("listing-proxy", self.listing, pulumi.Output.concat(source, args.counts_path, "/*")),
        ]

    def _permission(self, label: str, target: functions.FunctionParts, source_arn: pulumi.Input[str]) -> aws.lambda_.Permission:
        return aws.lambda_.Permission(
            f"{self._name}-{label}-permission",
            action="lambda:InvokeFunction",
            function=target.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=source_arn,
            opts=self._opts(),
        )

    def _create_guards(self) -> None:
        """The opt-in guards (infra/guards.py): the listing's API key, WAF per IP, the monthly budget."""
        args, name = self._args, self._name
        self.api_key = guards.api_key(name, self.api, self.stage, self._opts()) if args.counts_access == "apiKey" else None
        self.waf = guards.waf(name, self.stage, args.waf_rate_limit, args.cors_origins, self._opts(),
                              self._scope) if args.waf_rate_limit else None
        self.budget = None
        if args.monthly_budget and args.alarm_email:
            self.budget = guards.budget(name, args.monthly_budget, args.alarm_email, pulumi.get_stack(), self._opts())


# One JSON line per request in the access log (only with accessLogs on).
# No source IP (docs/privacy.md: raw IPs are never logged). The error message can hold quotes, so it goes in
# as $context.error.messageString, which API Gateway renders already quoted and escaped; the other values
# are ids, numbers, a method and a path API Gateway accepted (no raw quote or control character).
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","method":"$context.httpMethod",'
    '"path":"$context.path","status":"$context.status","latencyMs":"$context.responseLatency",'
    '"integrationLatencyMs":"$context.integrationLatency","error":$context.error.messageString}'
)
