"""RouteCounter: the whole stack as one ComponentResource (table, two functions, REST API, alarms)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from handler import events, schema
from handler import settings as env
from infra import policies
from infra.settings import StackSettings

HANDLER_DIR = Path(__file__).resolve().parent.parent / "handler"
COUNTER_HANDLER = "handler.counter.handler"
LISTING_HANDLER = "handler.listing.handler"
RUNTIME = aws.lambda_.Runtime.PYTHON3D13
COUNTER_TIMEOUT = 6  # seconds: the writer's retry budget (1 s) plus one attempt's timeouts (3 s), with room
LISTING_TIMEOUT = 10  # seconds: a top=N scan reads up to 50,000 items
LISTING_METHODS = ("GET", "HEAD", "OPTIONS")

# Stack outputs: README and tests use these names.
OUTPUT_URL = "url"
OUTPUT_COUNTS_URL = "counts_url"
OUTPUT_TABLE_NAME = "table_name"
OUTPUT_COUNTER_FUNCTION = "counter_function_name"
OUTPUT_LISTING_FUNCTION = "listing_function_name"


def handler_files(root: Path = HANDLER_DIR) -> dict[str, Path]:
    """What the code asset ships: the handler package's .py files only (no tests, caches or boto3)."""
    return {f"handler/{path.relative_to(root).as_posix()}": path for path in sorted(root.rglob("*.py"))}


@dataclass
class RouteCounterArgs:
    """Inputs of the component. Settings that decide which resources exist are plain values."""

    stage_name: pulumi.Input[str]
    cors_origins: pulumi.Input[str]
    allow_prefixes: pulumi.Input[str]
    route_templates: pulumi.Input[str]
    max_route_bytes: pulumi.Input[int]
    memory_size: pulumi.Input[int]
    architecture: pulumi.Input[str]
    log_retention_days: pulumi.Input[int]
    throttle_rate_limit: pulumi.Input[int]
    throttle_burst_limit: pulumi.Input[int]
    counts_path: str = "_counts"
    reserved_concurrency: int | None = None
    protect_data: bool = True
    tracing: bool = False
    access_logs: bool = False
    alarm_email: str | None = None

    @classmethod
    def from_settings(cls, s: StackSettings) -> RouteCounterArgs:
        return cls(
            stage_name=s.stage_name,
            cors_origins=s.cors_origins,
            allow_prefixes=s.allow_prefixes,
            route_templates=s.route_templates,
            max_route_bytes=s.max_route_bytes,
            memory_size=s.memory_size,
            architecture=s.architecture,
            log_retention_days=s.log_retention_days,
            throttle_rate_limit=s.throttle_rate_limit,
            throttle_burst_limit=s.throttle_burst_limit,
            counts_path=s.counts_path,
            reserved_concurrency=s.reserved_concurrency,
            protect_data=s.protect_data,
            tracing=s.tracing,
            access_logs=s.access_logs,
            alarm_email=s.alarm_email,
        )


class RouteCounter(pulumi.ComponentResource):
    """API Gateway REST API -> counter / listing Lambdas -> one DynamoDB table, least privilege throughout."""

    def __init__(self, name: str, args: RouteCounterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("route-counter:index:RouteCounter", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)

        self.table = self._create_table()
        code = pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in handler_files().items()})
        environment = {
            env.TABLE_NAME: self.table.name,
            env.CORS_ORIGINS: args.cors_origins,
            env.ALLOW_PREFIXES: args.allow_prefixes,
            env.ROUTE_TEMPLATES: args.route_templates,
            env.MAX_ROUTE_BYTES: pulumi.Output.from_input(args.max_route_bytes).apply(str),
        }
        self.counter = self._create_function(
            "counter", COUNTER_HANDLER, policies.COUNTER_TABLE_ACTIONS, code, environment, COUNTER_TIMEOUT,
            args.reserved_concurrency,
        )
        self.listing = self._create_function(
            "listing", LISTING_HANDLER, policies.LISTING_TABLE_ACTIONS, code, environment, LISTING_TIMEOUT, None
        )
        self._create_api()
        self._create_alarms()

        self.url = self.stage.invoke_url
        self.counts_url = pulumi.Output.concat(self.stage.invoke_url, "/", args.counts_path)
        self.outputs: dict[str, pulumi.Output[Any]] = {
            OUTPUT_URL: self.url,
            OUTPUT_COUNTS_URL: self.counts_url,
            OUTPUT_TABLE_NAME: self.table.name,
            OUTPUT_COUNTER_FUNCTION: self.counter.function.name,
            OUTPUT_LISTING_FUNCTION: self.listing.function.name,
        }
        self.register_outputs(self.outputs)

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(**kwargs))

    def _create_table(self) -> aws.dynamodb.Table:
        protect = self._args.protect_data
        return aws.dynamodb.Table(
            f"{self._name}-table",
            attributes=[aws.dynamodb.TableAttributeArgs(name=schema.KEY, type=schema.KEY_TYPE)],
            hash_key=schema.KEY,
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=protect,
            opts=self._opts(protect=protect),
        )

    def _create_function(
        self,
        role: str,
        handler: str,
        table_actions: tuple[str, ...],
        code: pulumi.Archive,
        environment: dict[str, pulumi.Input[str]],
        timeout: int,
        reserved_concurrency: int | None,
    ) -> FunctionParts:
        """A function with its own log group, its own role and an inline least-privilege policy."""
        args, name = self._args, f"{self._name}-{role}"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=f"/aws/lambda/{name}-",
            retention_in_days=args.log_retention_days,
            opts=self._opts(),
        )
        iam_role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(policies.lambda_assume_role()),
            description=f"route-counter {role} function ({name})",
            opts=self._opts(),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=iam_role.id,
            policy=pulumi.Output.json_dumps(
                policies.function_policy(table_actions, self.table.arn, log_group.arn, args.tracing)
            ),
            opts=self._opts(),
        )
        function = aws.lambda_.Function(
            name,
            role=iam_role.arn,
            runtime=RUNTIME,
            handler=handler,
            code=code,
            architectures=[args.architecture],
            memory_size=args.memory_size,
            timeout=timeout,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            # WARN: our own lines are errors; botocore's INFO chatter would only add log volume and cost.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=log_group.name, application_log_level="WARN", system_log_level="WARN"
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active") if args.tracing else None,
            reserved_concurrent_executions=reserved_concurrency,
            # The policy must exist before the first invocation, or its first log lines are lost.
            opts=self._opts(depends_on=[policy]),
        )
        return FunctionParts(function, iam_role, policy, log_group)

    def _create_api(self) -> None:
        args, name = self._args, self._name
        self.api = aws.apigateway.RestApi(
            f"{name}-api",
            description="route-counter: every path counts a hit; /" + args.counts_path + " lists the counts",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            opts=self._opts(),
        )
        proxy = self._resource("proxy", self.api.root_resource_id, events.PROXY_PART)
        counts = self._resource("counts", self.api.root_resource_id, args.counts_path)
        counts_proxy = self._resource("counts-proxy", counts.id, events.PROXY_PART)

        # (resource label, resource id, HTTP method, function). ANY under the listing path sends every
        # other method to the listing function too, which answers 405 with Allow -- never to the counter.
        routes = [("root", self.api.root_resource_id, "ANY", self.counter), ("proxy", proxy.id, "ANY", self.counter)]
        for label, resource_id in (("counts", counts.id), ("counts-proxy", counts_proxy.id)):
            routes += [(label, resource_id, method, self.listing) for method in (*LISTING_METHODS, "ANY")]
        self.methods, self.integrations = [], []
        for label, resource_id, http_method, target in routes:
            method = aws.apigateway.Method(
                f"{name}-{label}-{http_method.lower()}",
                rest_api=self.api.id,
                resource_id=resource_id,
                http_method=http_method,
                authorization="NONE",
                opts=self._opts(),
            )
            integration = aws.apigateway.Integration(
                f"{name}-{label}-{http_method.lower()}-integration",
                rest_api=self.api.id,
                resource_id=resource_id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=target.function.invoke_arn,
                opts=self._opts(),
            )
            self.methods.append(method)
            self.integrations.append(integration)

        # Every change to a resource, method or integration changes this hash, which replaces the
        # Deployment, which the stage then points at: the stage redeploys on every API change.
        definition = pulumi.Output.json_dumps(
            {
                "resources": [[r.id, r.path_part] for r in (proxy, counts, counts_proxy)],
                "methods": [[m.id, m.resource_id, m.http_method, m.authorization] for m in self.methods],
                "integrations": [[i.id, i.type, i.uri, i.integration_http_method] for i in self.integrations],
            }
        )
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.api.id,
            description="route-counter deployment",
            triggers={"redeployment": definition.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())},
            opts=self._opts(depends_on=[*self.methods, *self.integrations]),
        )
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
            opts=self._opts(),
        )
        self.method_settings = aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                metrics_enabled=True,
                throttling_rate_limit=args.throttle_rate_limit,
                throttling_burst_limit=args.throttle_burst_limit,
                # Execution logging needs the same account-level CloudWatch role as access logs.
                logging_level="ERROR" if args.access_logs else "OFF",
            ),
            opts=self._opts(),
        )
        # Invocation rights, per function and per path, from this API's stage only.
        source = pulumi.Output.concat(self.api.execution_arn, "/", self.stage.stage_name, "/*/")
        self.permissions = [
            self._permission("counter-root", self.counter, source),
            self._permission("counter-proxy", self.counter, pulumi.Output.concat(source, "*")),
            self._permission("listing", self.listing, pulumi.Output.concat(source, args.counts_path)),
            self._permission("listing-proxy", self.listing, pulumi.Output.concat(source, args.counts_path, "/*")),
        ]

    def _resource(self, label: str, parent_id: pulumi.Input[str], path_part: str) -> aws.apigateway.Resource:
        return aws.apigateway.Resource(
            f"{self._name}-{label}", rest_api=self.api.id, parent_id=parent_id, path_part=path_part, opts=self._opts()
        )

    def _permission(self, label: str, target: FunctionParts, source_arn: pulumi.Input[str]) -> aws.lambda_.Permission:
        return aws.lambda_.Permission(
            f"{self._name}-{label}-permission",
            action="lambda:InvokeFunction",
            function=target.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=source_arn,
            opts=self._opts(),
        )

    def _create_alarms(self) -> None:
        """API 5XX, counter errors and throttles, DynamoDB throttling -> one SNS topic."""
        name = self._name
        self.alarm_topic = aws.sns.Topic(f"{name}-alarms", opts=self._opts())
        if self._args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                topic=self.alarm_topic.arn,
                protocol="email",
                endpoint=self._args.alarm_email,
                opts=self._opts(),
            )
        specs = [
            ("api-5xx", "AWS/ApiGateway", "5XXError", {"ApiName": self.api.name, "Stage": self.stage.stage_name}),
            ("counter-errors", "AWS/Lambda", "Errors", {"FunctionName": self.counter.function.name}),
            ("counter-throttles", "AWS/Lambda", "Throttles", {"FunctionName": self.counter.function.name}),
            ("table-throttles", "AWS/DynamoDB", "ThrottledRequests", {"TableName": self.table.name, "Operation": "UpdateItem"}),
        ]
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{label}",
                alarm_description=f"route-counter {label.replace('-', ' ')} ({name})",
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.alarm_topic.arn],
                ok_actions=[self.alarm_topic.arn],
                opts=self._opts(),
            )
            for label, namespace, metric, dimensions in specs
        ]


@dataclass(frozen=True)
class FunctionParts:
    function: aws.lambda_.Function
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup


# One JSON line per request in the access log (only with accessLogs on).
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod",'
    '"path":"$context.path","status":"$context.status","latencyMs":"$context.responseLatency",'
    '"integrationLatencyMs":"$context.integrationLatency","error":"$context.error.message"}'
)
