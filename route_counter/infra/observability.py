"""What watches the stack: the alarm topic, the rate alarms (infra/alarms.py) and the CloudWatch
dashboard (infra/dashboard.py), built for the component from the resources they watch; and, opt-in, the
account's API Gateway logging role that access logs need."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from route_counter.handler.web import metrics as own
from route_counter.infra import alarms, dashboard, policies


@dataclass(frozen=True)
class Watched:
    api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage
    counter: aws.lambda_.Function
    listing: aws.lambda_.Function
    table: aws.dynamodb.Table


@dataclass(frozen=True)
class ObservabilityParts:
    topic: aws.sns.Topic
    subscription: aws.sns.TopicSubscription | None
    alarms: list[aws.cloudwatch.MetricAlarm]
    traffic: list[aws.cloudwatch.MetricAlarm]  # trafficAlarm, trafficAnomaly: only when asked
    dashboard: aws.cloudwatch.Dashboard
    dashboard_url: pulumi.Output[str]


def dashboard_name(project: str, stack: str, region: str) -> str:
    """Dashboards are not auto-named, take letters, digits, "-" and "_", and are global to the account
    (CloudWatch PutDashboard): project, stack and region keep every stack's apart, so destroying one stack
    never deletes a same-named stack's dashboard in another region."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{stack}-{region}")[:255]


def create(name: str, watched: Watched, alarm_email: str | None, parent: pulumi.Resource,
           opts: pulumi.ResourceOptions, traffic_alarm: int | None = None,
           traffic_anomaly: bool = False, scope: str | None = None) -> ObservabilityParts:
    """Rates, not single events: API 5XX, counter errors and throttles, DynamoDB throttling -> one SNS
    topic; and one dashboard of the API, both functions, the table and the counter's own metrics."""
    topic = aws.sns.Topic(f"{name}-alarms", opts=opts)
    subscription = None
    if alarm_email:
        subscription = aws.sns.TopicSubscription(f"{name}-alarm-email", topic=topic.arn, protocol="email",
                                                 endpoint=alarm_email, opts=opts)
    counter = {"FunctionName": watched.counter.name}
    dimensions: dict[str, dict[str, Any]] = {
        "api": {"ApiName": watched.api.name, "Stage": watched.stage.stage_name},
        "counter": counter,
        "throttles": counter,
        "table": {"TableName": watched.table.name, "Operation": "UpdateItem"},
    }
    rate_alarms = [
        aws.cloudwatch.MetricAlarm(
            f"{name}-{spec.label}",
            alarm_description=f"route-counter {name}: {spec.description}. What to do: docs/operations.md in route-counter.",
            metric_queries=[_metric_query(q) for q in alarms.metric_queries(spec, dimensions[key])],
            threshold=spec.threshold,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=alarms.EVALUATION_PERIODS,
            datapoints_to_alarm=alarms.DATAPOINTS_TO_ALARM,
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            opts=opts,
        )
        for key, spec in alarms.SPECS.items()
    ]
    traffic = _traffic_alarms(name, counter, topic, traffic_alarm, traffic_anomaly, opts)
    region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=parent)).region
    names = pulumi.Output.all(region, watched.api.name, watched.stage.stage_name, watched.counter.name,
                              watched.listing.name, watched.table.name)
    board = aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=region.apply(lambda r: dashboard_name(pulumi.get_project(), scope or pulumi.get_stack(), r)),
        dashboard_body=names.apply(lambda n: json.dumps(dashboard.body(dashboard.Names(*n)))),
        opts=opts,
    )
    url = pulumi.Output.all(region, board.dashboard_name).apply(
        lambda v: f"https://{v[0]}.console.aws.amazon.com/cloudwatch/home?region={v[0]}#dashboards/dashboard/{v[1]}"
    )
    return ObservabilityParts(topic, subscription, rate_alarms, traffic, board, url)


def _traffic_alarms(name: str, counter: dict[str, Any], topic: aws.sns.Topic, threshold: int | None,
                    anomaly: bool, opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
    """trafficAlarm: counted hits over N in 5 minutes; trafficAnomaly: hits above the band CloudWatch's
    anomaly model expects (it learns the usual daily and weekly shape from the metric's history)."""
    made = []
    if threshold:
        made.append(aws.cloudwatch.MetricAlarm(
            f"{name}-traffic",
            alarm_description=f"route-counter {name}: more than {threshold:,} counted hits in 5 minutes (trafficAlarm).",
            namespace=own.NAMESPACE, metric_name=own.HITS, dimensions=counter, statistic="Sum",
            period=alarms.PERIOD, evaluation_periods=1, threshold=threshold,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=opts,
        ))
    if anomaly:
        made.append(aws.cloudwatch.MetricAlarm(
            f"{name}-traffic-anomaly",
            alarm_description=f"route-counter {name}: counted hits above what CloudWatch expects for this time "
                              "(trafficAnomaly).",
            metric_queries=[_metric_query(q) for q in alarms.anomaly_queries(own.NAMESPACE, own.HITS, counter)],
            threshold_metric_id="band", comparison_operator="GreaterThanUpperThreshold",
            evaluation_periods=alarms.TRAFFIC_EVALUATION_PERIODS, datapoints_to_alarm=alarms.TRAFFIC_DATAPOINTS,
            treat_missing_data="notBreaching", alarm_actions=[topic.arn], opts=opts,
        ))
    return made


def _metric_query(query: dict[str, Any]) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """infra/alarms.py's plain data as the provider's typed args."""
    metric = query.get("metric")
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query["id"],
        expression=query.get("expression"),
        label=query.get("label"),
        return_data=query["return_data"],
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(**metric) if metric else None,
    )


@dataclass(frozen=True)
class LogsRoleParts:
    role: aws.iam.Role
    attachment: aws.iam.RolePolicyAttachment
    account: aws.apigateway.Account


def apigateway_logs_role(name: str, parent: pulumi.Resource, opts: pulumi.ResourceOptions) -> LogsRoleParts:
    """apiGatewayLogsRole: the account's API Gateway CloudWatch role, which access logs and execution logs
    need. One setting per account and region, which every other API there shares: pulumi-aws 7 resets it
    on destroy, and deleting the role would leave it pointing nowhere, so all three are retained on
    delete (``pulumi destroy`` forgets them; docs/deploy.md says how to remove them by hand)."""
    opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
    role = aws.iam.Role(
        f"{name}-apigateway-logs",
        assume_role_policy=pulumi.Output.json_dumps(policies.assume_role("apigateway.amazonaws.com")),
        description="API Gateway account-level logging to CloudWatch Logs (route-counter apiGatewayLogsRole)",
        opts=opts,
    )
    partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=parent)).partition
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-apigateway-logs-policy",
        role=role.name,
        policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:", policies.APIGATEWAY_LOGS_POLICY),
        opts=opts,
    )
    account = aws.apigateway.Account(
        f"{name}-apigateway-account", cloudwatch_role_arn=role.arn,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[attachment])),
    )
    return LogsRoleParts(role, attachment, account)

