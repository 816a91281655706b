"""A shop API (two routes, a usage plan and an API key) whose every request is metered by route and key."""

import hashlib
import json

import pulumi
import pulumi_aws as aws

from route_counter import ApiMeter, ApiMeterArgs

# Usage is billing data: protected unless `pulumi config set protectData false` (then `pulumi up`, `pulumi destroy`).
# A REST API's access log needs the account's API Gateway CloudWatch role: made here (one per account and
# region; `pulumi config set apiGatewayLogsRole false` where another stack has it already).
config = pulumi.Config()
protect = config.get_bool("protectData", True)
meter = ApiMeter("meter", ApiMeterArgs(sources=["shop"], route_templates="/orders/{id}", protect_data=protect,
                                       api_gateway_logs_role=config.get_bool("apiGatewayLogsRole", True)))

mock = {"type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
        "responses": {"default": {"statusCode": "200"}}}
answer = {"get": {"x-amazon-apigateway-integration": mock, "responses": {"200": {"description": "ok"}},
                  "security": [{"api_key": []}]}}
api = aws.apigateway.RestApi("shop", body=json.dumps({
    "openapi": "3.0.1", "info": {"title": "shop", "version": "1"},
    "paths": {"/products": answer, "/orders/{id}": answer},
    "components": {"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}}}))
deployment = aws.apigateway.Deployment("shop", rest_api=api.id,
                                      triggers={"body": api.body.apply(lambda b: hashlib.sha256(b.encode()).hexdigest())})
stage = aws.apigateway.Stage("shop", rest_api=api.id, deployment=deployment.id, stage_name="prod",
                             access_log_settings=meter.access_log_settings("shop", kind="rest"))
plan = aws.apigateway.UsagePlan("shop", api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=api.id,
                                                                                          stage=stage.stage_name)])
key = aws.apigateway.ApiKey("shop-customer")
subscribed = aws.apigateway.UsagePlanKey("shop-customer", key_id=key.id, key_type="API_KEY", usage_plan_id=plan.id)

pulumi.export("url", stage.invoke_url)
pulumi.export("meter_table", meter.meter_table_name)
pulumi.export("counts_table", meter.counts_table_name)
