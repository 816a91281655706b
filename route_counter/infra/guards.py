"""Opt-in guards around the stack (docs/operations.md): an API key for the listing, a WAF rate rule
per client IP, and a budget on what the stack's tagged resources cost. Each is built only when its
setting asks for it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

WAF_WINDOW = 300  # seconds: wafRateLimit counts requests per 5 minutes, per IP
RATE_LIMITED_BODY = '{"error":"rate_limited","message":"too many requests from this address; try again in a few minutes"}'
BUDGET_THRESHOLDS = (80, 100)  # percent of monthlyBudget, on actual spend


@dataclass(frozen=True)
class ApiKeyParts:
    key: aws.apigateway.ApiKey
    plan: aws.apigateway.UsagePlan
    plan_key: aws.apigateway.UsagePlanKey


def api_key(name: str, api: aws.apigateway.RestApi, stage: aws.apigateway.Stage,
            opts: pulumi.ResourceOptions) -> ApiKeyParts:
    """countsAccess apiKey: one generated key, in a usage plan bound to this stage (API Gateway checks
    keys only for stages in a plan that holds them)."""
    key = aws.apigateway.ApiKey(f"{name}-counts-key", description="route-counter: reads the listing path", opts=opts)
    plan = aws.apigateway.UsagePlan(
        f"{name}-counts-plan",
        description="route-counter: who may read the listing path",
        api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=api.id, stage=stage.stage_name)],
        opts=opts,
    )
    plan_key = aws.apigateway.UsagePlanKey(f"{name}-counts-plan-key", key_id=key.id, key_type="API_KEY",
                                           usage_plan_id=plan.id, opts=opts)
    return ApiKeyParts(key, plan, plan_key)


@dataclass(frozen=True)
class WafParts:
    acl: aws.wafv2.WebAcl
    association: aws.wafv2.WebAclAssociation


def waf_cors_headers(cors_origins: str) -> list[tuple[str, str]]:
    """The stage's CORS on WAF's 429, so a browser shows the JSON instead of a CORS failure. WAF's custom
    headers are fixed strings (any name but content-type, AWS WAF Developer Guide, "Custom responses for
    Block actions"): with several allowed origins no one value fits, so none is sent."""
    origins = [o for o in cors_origins.split(",") if o]
    if origins == ["*"]:
        return [("Access-Control-Allow-Origin", "*")]
    if len(origins) == 1:
        return [("Access-Control-Allow-Origin", origins[0]), ("Vary", "Origin")]
    return []


def waf_metric_name(project: str, stack: str, what: str) -> str:
    """WAF metric names are per account and region, not per ACL: the stack goes in them, so two stacks'
    metrics stay apart (WAF accepts letters, digits, and -_ up to 128 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{stack}-{what}")[:128]


def waf(name: str, stage: aws.apigateway.Stage, limit: int, cors_origins: str,
        opts: pulumi.ResourceOptions, scope: str | None = None) -> WafParts:
    """wafRateLimit: a web ACL whose one rule blocks an IP past ``limit`` requests in 5 minutes, answering
    429 JSON in the product's error shape with the stage's CORS headers. Associated with the stage, it acts
    before API Gateway invokes any function, so a flood from one address costs WAF's request price, not a
    Lambda's and a write's."""
    project, stack = pulumi.get_project(), scope or pulumi.get_stack()

    acl = aws.wafv2.WebAcl(
        f"{name}-waf",
        description="route-counter: per-IP rate limit in front of the API stage",
        scope="REGIONAL",
        default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
        custom_response_bodies=[aws.wafv2.WebAclCustomResponseBodyArgs(
            key="rate_limited", content=RATE_LIMITED_BODY, content_type="APPLICATION_JSON")],
        rules=[aws.wafv2.WebAclRuleArgs(
            name="rate-per-ip",
            priority=0,
            action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs(
                custom_response=aws.wafv2.WebAclRuleActionBlockCustomResponseArgs(
                    response_code=429, custom_response_body_key="rate_limited",
                    response_headers=[aws.wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs(name=n, value=v)
                                      for n, v in waf_cors_headers(cors_origins)] or None))),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    limit=limit, aggregate_key_type="IP", evaluation_window_sec=WAF_WINDOW)),
            visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=waf_metric_name(project, stack, "rate-per-ip"), sampled_requests_enabled=True),
        )],
        visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=waf_metric_name(project, stack, "waf"), sampled_requests_enabled=True),
        opts=opts,
    )
    association = aws.wafv2.WebAclAssociation(f"{name}-waf-stage", resource_arn=stage.arn, web_acl_arn=acl.arn,
                                              opts=opts)
    return WafParts(acl, association)


def budget(name: str, amount: int, email: str, stack: str, opts: pulumi.ResourceOptions) -> aws.budgets.Budget:
    """monthlyBudget: AWS Budgets on actual monthly cost of the resources tagged with this stack, emailing
    at 80 % and 100 %. The tag must be activated as a cost allocation tag (docs/operations.md)."""
    return aws.budgets.Budget(
        f"{name}-budget",
        budget_type="COST",
        limit_amount=str(amount),
        limit_unit="USD",
        time_unit="MONTHLY",
        cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:pulumi:stack${stack}"])],
        notifications=[
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN", threshold=percent, threshold_type="PERCENTAGE",
                notification_type="ACTUAL", subscriber_email_addresses=[email],
            )
            for percent in BUDGET_THRESHOLDS
        ],
        opts=opts,
    )
