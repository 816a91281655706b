"""Run the real Pulumi program (__main__.py) under Pulumi's mock runtime, with config loaded as the CLI does."""

from __future__ import annotations

import base64
import dataclasses
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from tests import pulumi_cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "route-counter"
ACCOUNT, REGION = "123456789012", "us-east-1"


def stack_config(stack_name: str = "dev", **overrides: Any) -> dict[str, str]:
    """The config the program receives, merged as the CLI merges it (tests/pulumi_cli.py): Pulumi.<stack>.yaml
    (none for a new stack) plus ``overrides`` as if set with `pulumi config set`, then Pulumi.yaml's defaults."""
    on_stack = pulumi_cli.stack_file_config(ROOT, stack_name)
    on_stack.update({f"{PROJECT}:{key}": value for key, value in overrides.items()})
    return pulumi_cli.merge_config(pulumi_cli.load_project(ROOT), stack_name, on_stack)


AUTONAME_SUFFIX = "1a2b3c4"
MOCK_SECRET_B64 = base64.b64encode(b"mock-visitor-secret-32-bytes-abc").decode()


def real_arn(typ: str, name: str, resource_id: str, inputs: dict[str, Any]) -> str | None:
    """The ARN AWS gives each resource type this program creates, in that service's own format."""
    formats = {
        "aws:dynamodb/table:Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "aws:lambda/function:Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "aws:iam/role:Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        # The provider's log group ARN has no trailing ":*".
        "aws:cloudwatch/logGroup:LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}",
        "aws:cloudwatch/metricAlarm:MetricAlarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "aws:cloudwatch/dashboard:Dashboard": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}",
        "aws:sns/topic:Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
        "aws:sqs/queue:Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "aws:s3/bucket:Bucket": f"arn:aws:s3:::{name}",  # global: no region, no account
        "aws:apigateway/restApi:RestApi": f"arn:aws:apigateway:{REGION}::/restapis/{resource_id}",
        "aws:apigateway/stage:Stage": f"arn:aws:apigateway:{REGION}::/restapis/{inputs.get('restApi')}/stages/{inputs.get('stageName')}",
        "aws:apigateway/apiKey:ApiKey": f"arn:aws:apigateway:{REGION}::/apikeys/{resource_id}",
        "aws:apigateway/usagePlan:UsagePlan": f"arn:aws:apigateway:{REGION}::/usageplans/{resource_id}",
        "aws:wafv2/webAcl:WebAcl": f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/{name}/{resource_id}",
        "aws:budgets/budget:Budget": f"arn:aws:budgets::{ACCOUNT}:budget/{name}",
        # A certificate lives in its own region (us-east-1 for EDGE, whatever the stack's).
        "aws:acm/certificate:Certificate":
            f"arn:aws:acm:{inputs.get('region') or REGION}:{ACCOUNT}:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "aws:apigateway/domainName:DomainName": f"arn:aws:apigateway:{REGION}::/domainnames/{inputs.get('domainName')}",
    }
    return formats.get(typ)


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    options: dict[str, Any]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers, and answers with plausible computed state."""

    resources: dict[str, Registered] = field(default_factory=dict)
    function_generation: int = 1  # bump to simulate replaced functions (new invoke ARNs)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        resource_id = f"{args.name}-id"
        state = dict(args.inputs)
        # Physical names as Pulumi's auto-naming makes them (logical name, "-", 7 random hex digits).
        name = args.inputs.get("name") or (args.inputs.get("namePrefix") or f"{args.name}-") + AUTONAME_SUFFIX
        state.setdefault("name", name)
        arn = real_arn(args.typ, name, resource_id, args.inputs)
        if arn:
            state.setdefault("arn", arn)
        if args.typ == "aws:s3/bucket:Bucket":
            state.setdefault("bucket", name)
        if args.typ == "aws:apigateway/restApi:RestApi":
            state.update(rootResourceId=f"{args.name}-root", executionArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{resource_id}")
        if args.typ == "aws:lambda/function:Function":
            generation = "" if self.function_generation == 1 else f"-{self.function_generation}"
            state["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}{generation}/invocations"
        if args.typ == "random:index/randomBytes:RandomBytes":
            state.update(base64=MOCK_SECRET_B64, hex=base64.b64decode(MOCK_SECRET_B64).hex())
        if args.typ == "aws:apigateway/apiKey:ApiKey":
            state["value"] = "mock-api-key-0123456789abcdefghij"  # API Gateway generates it
        if args.typ == "aws:acm/certificate:Certificate":  # what ACM asks to find in DNS
            state["domainValidationOptions"] = [{
                "domainName": args.inputs["domainName"], "resourceRecordType": "CNAME",
                "resourceRecordName": f"_3f2a9c.{args.inputs['domainName']}.",
                "resourceRecordValue": "_7b1d04.mhbtsbpdnt.acm-validations.aws."}]
        if args.typ == "aws:acm/certificateValidation:CertificateValidation":
            state["certificateArn"] = args.inputs["certificateArn"]
        if args.typ == "aws:route53/record:Record":
            state["fqdn"] = str(args.inputs["name"]).rstrip(".")
        if args.typ == "aws:apigateway/domainName:DomainName":  # the targets API Gateway and CloudFront give
            state.update(regionalDomainName=f"d-abc123def4.execute-api.{REGION}.amazonaws.com",
                         regionalZoneId="Z1UJRXOUMOOFQ8", cloudfrontDomainName="d1a2b3c4d5e6f7.cloudfront.net",
                         cloudfrontZoneId="Z2FDTNDATAQYW2")
        if args.typ == "aws:sqs/queue:Queue":  # SQS answers a queue's URL, and its name is the ARN's last part
            state.update(url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}", name=name)
        if args.typ == "aws:apigateway/stage:Stage":
            state["invokeUrl"] = f"https://{args.inputs['restApi']}.execute-api.{REGION}.amazonaws.com/{args.inputs['stageName']}"
        self.resources[args.name] = Registered(args.typ, args.name, dict(args.inputs), {"provider": args.provider})
        return [resource_id, state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer", "id": ACCOUNT,
                    "userId": "AIDAEXAMPLEUSERID0001"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        return {}

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type == typ]


def run_program(stack_name: str = "dev", recorder: Recorder | None = None, **overrides: Any) -> tuple[Recorder, dict[str, Any]]:
    """Mocks first, then config, then the program itself. Returns the recorder and the program's globals."""
    recorder = recorder or Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack_name, preview=False)
    pulumi.runtime.set_all_config(stack_config(stack_name, **overrides))
    program = runpy.run_path(str(ROOT / "__main__.py"))
    return recorder, program


def everything(component: Any) -> pulumi.Output[list[Any]]:
    """An Output that resolves once every child the component created has been registered."""
    def resources(value: Any) -> list[pulumi.Resource]:
        if isinstance(value, pulumi.Resource):
            return [value]
        if isinstance(value, list):
            return [v for item in value for v in resources(item)]
        if isinstance(value, dict):  # metering.wire's parts
            return [v for item in value.values() for v in resources(item)]
        if dataclasses.is_dataclass(value):  # FunctionParts, DownloadParts, ApiKeyParts, WafParts
            return [v for f in dataclasses.fields(value) for v in resources(getattr(value, f.name))]
        return []

    children = [r for value in vars(component).values() for r in resources(value)]
    return pulumi.Output.all(*[child.urn for child in children], *component.outputs.values())
