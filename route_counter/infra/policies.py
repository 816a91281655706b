"""IAM documents, built as plain data (pass Outputs for ARNs; the component serialises with Output.json_dumps).

Least privilege: each function may touch this table with exactly the actions it needs, and write logs only
to its own log group. The one wildcard is X-Ray's, and only with tracing on: PutTraceSegments and
PutTelemetryRecords have no resource-level permissions, so AWS requires ``"Resource": "*"`` for them.
"""

from __future__ import annotations

from typing import Any

import pulumi

VERSION = "2012-10-17"
# The counter reads only for a hot route (handler/store/spread.py): its head's part list when another
# container listed more, and the parts' total it answers with; and, with ignoreIps, the count it shows.
COUNTER_TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem")
LISTING_TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Scan")  # parts are read by key
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
VISITOR_TABLE_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:PutItem")  # markers: put once a day, removed if the hit fails


def assume_role(service: str = "lambda.amazonaws.com") -> dict[str, Any]:
    """Trust policy: only that AWS service may assume the role."""
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def lambda_assume_role() -> dict[str, Any]:
    return assume_role("lambda.amazonaws.com")


# API Gateway's account-level logging role: AWS's managed policy for exactly this (API Gateway Developer Guide,
# "Set up CloudWatch logging for REST APIs"): it writes the account's execution and access logs.
APIGATEWAY_LOGS_POLICY = "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def function_policy(
    table_actions: tuple[str, ...],
    table_arn: pulumi.Input[str],
    log_group_arn: pulumi.Input[str],
    tracing: bool,
    object_arns: list[pulumi.Output[str]] | None = None,
    visitor_table_arn: pulumi.Input[str] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A function's permissions: table actions on this table only, logs to its own group only."""
    statements: list[dict[str, Any]] = [
        {"Sid": "Table", "Effect": "Allow", "Action": list(table_actions), "Resource": table_arn},
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            # The group itself (CreateLogStream) and its streams (PutLogEvents).
            "Resource": [log_group_arn, pulumi.Output.concat(log_group_arn, ":log-stream:*")],
        },
    ]
    if visitor_table_arn is not None:  # the counter, with uniqueVisitors: its markers' table, nothing else
        statements.append({"Sid": "VisitorMarkers", "Effect": "Allow", "Action": list(VISITOR_TABLE_ACTIONS),
                           "Resource": visitor_table_arn})
    if object_arns:  # the counter presigns download links: read exactly those objects, nothing else in S3
        statements.append({"Sid": "Downloads", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": object_arns})
    statements += extra or []  # metering: its table and dead-letter queue (infra/metering.py)
    if tracing:
        statements.append({"Sid": "XRay", "Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": "*"})
    return {"Version": VERSION, "Statement": statements}
