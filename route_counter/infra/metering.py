"""Metering (``meter``, ``meterLogGroup``): the table of batch markers and usage, the metering function, and
per metered log group a subscription filter with the permission CloudWatch Logs needs to invoke it.

Asynchronous invocation, made explicit (Lambda Developer Guide, "Asynchronous invocation"): CloudWatch
Logs invokes the function asynchronously; Lambda retries a failed invocation twice and keeps an event up
to 6 hours by default. Those are set here, and a delivery that fails every try goes to an encrypted SQS
dead-letter queue (the on-failure destination) with an alarm when it is not empty; ``python -m counts
meter-replay`` drains it through the same exactly-once path (handler/store/meter.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pulumi
import pulumi_aws as aws

from route_counter.handler.rules import accesslog, meter_schema, schema
from route_counter.handler.rules.sources import parse_sources
from route_counter.infra.settings import OWN_SOURCE, SettingsError, StackSettings, check_environment_size, own_group_name

METER_HANDLER = "handler.meter.handler"
METER_TIMEOUT = 60  # seconds: a delivery of up to 10,000 lines becomes a few transactions
RETRIES, MAX_EVENT_AGE = 2, 6 * 3600  # Lambda's defaults, set explicitly
DLQ_RETENTION = 14 * 86400  # SQS's longest: 14 days to look and replay
METER_COUNTS_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")  # read leftovers, then update in transactions
METER_TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem")  # markers (Put) and usage (Update), in transactions
USAGE_READ_ACTIONS = ("dynamodb:Query",)  # the listing reads a month of usage
STANDARD_CLASS = "STANDARD"
# Alarms that say metering lost data (Lambda Developer Guide, "Asynchronous invocation metrics"; CloudWatch
# Logs User Guide, "Monitoring with CloudWatch metrics"): a failed delivery to the dead-letter queue, an
# event dropped past its age or retries, and the subscription failing or throttled (CloudWatch Logs
# disables a filter for up to 10 minutes after a permission or missing-resource error, and skips those logs).
FUNCTION_ALARMS = ("DestinationDeliveryFailures", "AsyncEventsDropped")
SUBSCRIPTION_ALARMS = ("DeliveryErrors", "DeliveryThrottling")


def log_group_arn(partition: str, region: str, account: str, name: str) -> str:
    """A log group's ARN as a Lambda permission's source (CloudWatch Logs User Guide, "Subscription filters
    with AWS Lambda": ``arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*``)."""
    return f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*"


@dataclass
class MeteringParts:
    table: aws.dynamodb.Table
    own_group: aws.cloudwatch.LogGroup | None
    queue: aws.sqs.Queue


def create_table(name: str, protect: bool, opts: pulumi.ResourceOptions) -> aws.dynamodb.Table:
    """Markers and usage per API key: billing data, so protectData guards it like the counts table."""
    return aws.dynamodb.Table(
        f"{name}-meter-table",
        attributes=[aws.dynamodb.TableAttributeArgs(name=meter_schema.METER_PK, type="S"),
                    aws.dynamodb.TableAttributeArgs(name=meter_schema.METER_SK, type="S")],
        hash_key=meter_schema.METER_PK,
        range_key=meter_schema.METER_SK,
        billing_mode="PAY_PER_REQUEST",
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),  # usage is billing data
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        ttl=aws.dynamodb.TableTtlArgs(attribute_name=schema.EXPIRES, enabled=True),  # markers only: usage never expires
        deletion_protection_enabled=protect,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect)),
    )


def filter_name(project: str, stack: str, source: str) -> str:
    """A subscription filter's name, unique per project and stack: a log group's filters are named within
    the group, so two stacks metering one group must not overwrite (or, on destroy, remove) each other's."""
    return f"{project}-{stack}-meter-{source}"


def check_log_group(group: pulumi.Input[str], parent: pulumi.Resource, source: str) -> pulumi.Output[str]:
    """A metered log group, looked up at preview: a missing one stops the preview in one line naming the
    source and the group, and one of the Infrequent Access class (which takes no subscription filter) is
    refused with the reason. Its name when fine, carrying the group's dependencies (a group the program
    makes is looked up once it exists; in a preview that creates it, not at all). (At most 2 filters per
    group, and the group must be in the stack's account and region: see docs/deploy.md.)"""
    found = aws.cloudwatch.get_log_group_output(name=group, opts=pulumi.InvokeOutputOptions(parent=parent))

    async def looked_up() -> str | None:
        try:  # awaited here, so that the provider's failure (the engine's traceback) can be said in one line
            found_class = await found.log_group_class.future()
        except Exception:  # noqa: BLE001 - any failure of the lookup: the group cannot be subscribed
            name = await pulumi.Output.from_input(group).future()
            raise pulumi.RunError(f"meter: the log group {name} metered as {source} does not exist in this stack's "
                                  "account and region (or cannot be read with its credentials): check the name, "
                                  "or create the group first") from None
        name = await pulumi.Output.from_input(group).future()
        return subscribable(name, found_class) if name is not None else None

    # Output.all keeps the group's own dependencies and unknown-ness; the lookup only checks it.
    lookup: pulumi.Output[str | None] = pulumi.Output.from_input(looked_up())
    return pulumi.Output.all(group, lookup).apply(lambda known: str(known[0]))


def subscribable(group: str, found_class: str | None) -> str:
    """The group's name when its class takes a subscription filter; RunError (the preview stops) if not."""
    if found_class and found_class != STANDARD_CLASS:
        raise pulumi.RunError(f"meter: log group {group} is of class {found_class}; CloudWatch Logs subscribes only "
                              f"{STANDARD_CLASS} log groups to a Lambda function")
    return group


def create_sources(name: str, args: StackSettings, project: str, stack: str, opts: pulumi.ResourceOptions) -> tuple[
        aws.cloudwatch.LogGroup | None, aws.sqs.Queue]:
    """What exists before the function: the stack's own log group (meterLogGroup) and the dead-letter queue."""
    own = None
    if args.meter_log_group:
        own = aws.cloudwatch.LogGroup(f"{name}-meter-access-logs", name=own_group_name(project, stack),
                                      retention_in_days=args.log_retention_days, opts=opts)
    queue = aws.sqs.Queue(f"{name}-meter-dlq", sqs_managed_sse_enabled=True, message_retention_seconds=DLQ_RETENTION,
                          opts=opts)
    return own, queue


def sources_in_code(args: StackSettings, own_group: str, in_code: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """METER_SOURCES once the groups given in code are known; a RunError there if the environment would then
    pass Lambda's 4 KB (the config's own entries were checked at parse)."""
    names = list(in_code)

    def joined(groups: list[str]) -> str:
        known = dict(zip(names, groups, strict=True))
        try:
            check_environment_size(args, own_group, known)
        except SettingsError as exc:
            raise pulumi.RunError(f"invalid metering: {exc}") from None
        return args.meter_sources(own_group, known)

    return pulumi.Output.all(*in_code.values()).apply(joined)


def wire(name: str, args: StackSettings, function: aws.lambda_.Function, own: aws.cloudwatch.LogGroup | None,
         queue: aws.sqs.Queue, topic: aws.sns.Topic, project: str, stack: str,
         opts: Callable[..., pulumi.ResourceOptions],
         in_code: Mapping[str, pulumi.Input[str]] | None = None) -> dict[str, Any]:
    """The async-invoke settings, the dead-letter alarm, and per log group its permission and subscription."""
    config = aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-meter-async", function_name=function.name, maximum_retry_attempts=RETRIES,
        maximum_event_age_in_seconds=MAX_EVENT_AGE,
        destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
            on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(destination=queue.arn)),
        opts=opts())
    alarm = aws.cloudwatch.MetricAlarm(
        f"{name}-meter-dlq-alarm",
        alarm_description="A batch of access logs failed every try and waits in the dead-letter queue: "
                          "run python -m counts meter-replay",
        namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": queue.name},
        statistic="Maximum", period=300, evaluation_periods=1, threshold=0, comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching", alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=opts())
    partition, region = aws.get_partition().partition, aws.get_region().region
    account = aws.get_caller_identity().account_id
    groups: dict[str, pulumi.Input[str]] = dict(parse_sources(args.meter))
    if own is not None:
        groups[OWN_SOURCE] = own.name
    groups.update(in_code or {})
    made: dict[str, Any] = {"config": config, "alarm": alarm, "filters": [], "alarms": []}
    for metric in FUNCTION_ALARMS:
        made["alarms"].append(_alarm(f"{name}-meter-{metric}", "AWS/Lambda", metric, {"FunctionName": function.name},
                                     f"The metering function's {metric}: a batch of access logs may be lost", topic, opts))
    for source, group in groups.items():
        arn = (pulumi.Output.concat(own.arn, ":*") if own is not None and source == OWN_SOURCE
               else pulumi.Output.from_input(group).apply(lambda known: log_group_arn(partition, region, account, known)))
        permission = aws.lambda_.Permission(
            f"{name}-meter-{source}-invoke", action="lambda:InvokeFunction", function=function.name,
            principal="logs.amazonaws.com", source_arn=arn, source_account=account, opts=opts())
        checked = group if own is not None and source == OWN_SOURCE else check_log_group(group, function, source)
        subscription = aws.cloudwatch.LogSubscriptionFilter(
            f"{name}-meter-{source}", log_group=checked, filter_pattern="", destination_arn=function.arn,
            name=filter_name(project, stack, source), opts=opts(depends_on=[permission]))
        made["filters"].append(subscription)
        for metric in SUBSCRIPTION_ALARMS:
            dimensions = {"LogGroupName": group, "DestinationType": "Lambda", "FilterName": subscription.name}
            made["alarms"].append(_alarm(f"{name}-meter-{source}-{metric}", "AWS/Logs", metric, dimensions,
                                         f"The {source} subscription's {metric}: its logs are not reaching the "
                                         "metering function", topic, opts))
    return made


def _alarm(resource: str, namespace: str, metric: str, dimensions: dict[str, Any], description: str,
           topic: aws.sns.Topic, opts: Callable[..., pulumi.ResourceOptions]) -> aws.cloudwatch.MetricAlarm:
    """Any datapoint above zero in 5 minutes, to the alarm topic; no data is fine (nothing went wrong)."""
    return aws.cloudwatch.MetricAlarm(
        resource, alarm_description=description, namespace=namespace, metric_name=metric, dimensions=dimensions,
        statistic="Sum", period=300, evaluation_periods=1, threshold=0, comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching", alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=opts())


ACCESS_LOG_FORMATS = accesslog.FORMATS  # the meter_access_log_format output: {"rest": ..., "http": ...}
