"""A Lambda function as this stack makes each one: its own log group, its own role with an inline
least-privilege policy (infra/policies.py), JSON logs, and the stack's runtime and architecture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pulumi
import pulumi_aws as aws

from route_counter.infra import policies
from route_counter.infra.settings import StackSettings

RUNTIME = aws.lambda_.Runtime.PYTHON3D13


@dataclass(frozen=True)
class FunctionParts:
    function: aws.lambda_.Function
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup


def create(
    name: str,
    role: str,
    handler: str,
    args: StackSettings,
    table_arn: pulumi.Input[str],
    table_actions: tuple[str, ...],
    code: pulumi.Archive,
    environment: Mapping[str, pulumi.Input[str]],
    timeout: int,
    memory_size: int,
    reserved_concurrency: int | None,
    opts: Callable[..., pulumi.ResourceOptions],
    object_arns: list[pulumi.Output[str]] | None = None,
    log_level: str = "WARN",
    visitor_table_arn: pulumi.Output[str] | None = None,
    extra_statements: list[dict[str, Any]] | None = None,
) -> FunctionParts:
    """A function with its own log group, its own role and an inline least-privilege policy."""
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name_prefix=f"/aws/lambda/{name}-",
        retention_in_days=args.log_retention_days,
        opts=opts(),
    )
    iam_role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=pulumi.Output.json_dumps(policies.lambda_assume_role()),
        description=f"route-counter {role} function ({name})",
        opts=opts(),
    )
    policy = aws.iam.RolePolicy(
        f"{name}-policy",
        role=iam_role.id,
        policy=pulumi.Output.json_dumps(
            policies.function_policy(table_actions, table_arn, log_group.arn, args.tracing, object_arns,
                                     visitor_table_arn, extra_statements)
        ),
        opts=opts(),
    )
    function = aws.lambda_.Function(
        name,
        role=iam_role.arn,
        runtime=RUNTIME,
        handler=handler,
        code=code,
        architectures=[args.architecture],
        memory_size=memory_size,
        timeout=timeout,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment)),
        # Application WARN for the listing: its own lines are errors. INFO for the counter: its one
        # INFO line per invocation is the EMF metrics line (handler/web/metrics.py). System INFO by default: the START and REPORT lines (duration, memory, init) are what people
        # read first when something is slow (systemLogLevel WARN drops them, to save log cost).
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(
            log_format="JSON", log_group=log_group.name, application_log_level=log_level,
            system_log_level=args.system_log_level,
        ),
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active") if args.tracing else None,
        reserved_concurrent_executions=reserved_concurrency,
        # The policy must exist before the first invocation, or its first log lines are lost.
        opts=opts(depends_on=[policy]),
    )
    return FunctionParts(function, iam_role, policy, log_group)
