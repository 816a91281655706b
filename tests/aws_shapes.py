"""What AWS answers for the resources this program creates, in each service's own format: ARNs and the
attributes a service computes. One source for the mock runtime (tests/stack.py) and the engine tests'
stand-in provider (tests/engine/provider.py)."""

from __future__ import annotations

import hashlib
from typing import Any

ACCOUNT, REGION = "123456789012", "us-east-1"
CERTIFICATE_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def short_id(*parts: str, length: int = 10) -> str:
    """An identifier like API Gateway's (10 lowercase letters and digits), derived from ``parts``."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def arn(typ: str, name: str, resource_id: str, inputs: dict[str, Any], region: str = REGION,
        account: str = ACCOUNT) -> str | None:
    """The ARN AWS gives a resource of this type, or None for types that have none."""
    formats = {
        "aws:dynamodb/table:Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
        "aws:lambda/function:Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
        "aws:iam/role:Role": f"arn:aws:iam::{account}:role/{name}",
        # The provider's log group ARN has no trailing ":*".
        "aws:cloudwatch/logGroup:LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}",
        "aws:cloudwatch/metricAlarm:MetricAlarm": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "aws:cloudwatch/dashboard:Dashboard": f"arn:aws:cloudwatch::{account}:dashboard/{name}",
        "aws:sns/topic:Topic": f"arn:aws:sns:{region}:{account}:{name}",
        "aws:sqs/queue:Queue": f"arn:aws:sqs:{region}:{account}:{name}",
        "aws:s3/bucket:Bucket": f"arn:aws:s3:::{name}",  # global: no region, no account
        "aws:apigateway/restApi:RestApi": f"arn:aws:apigateway:{region}::/restapis/{resource_id}",
        "aws:apigateway/stage:Stage":
            f"arn:aws:apigateway:{region}::/restapis/{inputs.get('restApi')}/stages/{inputs.get('stageName')}",
        "aws:apigateway/apiKey:ApiKey": f"arn:aws:apigateway:{region}::/apikeys/{resource_id}",
        "aws:apigateway/usagePlan:UsagePlan": f"arn:aws:apigateway:{region}::/usageplans/{resource_id}",
        "aws:wafv2/webAcl:WebAcl": f"arn:aws:wafv2:{region}:{account}:regional/webacl/{name}/{resource_id}",
        "aws:budgets/budget:Budget": f"arn:aws:budgets::{account}:budget/{name}",
        # A certificate lives in its own region (us-east-1 for EDGE, whatever the stack's).
        "aws:acm/certificate:Certificate":
            f"arn:aws:acm:{inputs.get('region') or region}:{account}:certificate/{CERTIFICATE_ID}",
        "aws:apigateway/domainName:DomainName": f"arn:aws:apigateway:{region}::/domainnames/{inputs.get('domainName')}",
    }
    return formats.get(typ)


def computed(typ: str, name: str, resource_id: str, inputs: dict[str, Any], region: str = REGION,
             account: str = ACCOUNT) -> dict[str, Any]:
    """The attributes the service computes on create (besides the ARN), from the resource's inputs."""
    if typ == "aws:s3/bucket:Bucket":
        return {"bucket": name, "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com"}
    if typ == "aws:apigateway/restApi:RestApi":
        return {"rootResourceId": short_id("root", resource_id), "executionArn": f"arn:aws:execute-api:{region}:{account}:{resource_id}"}
    if typ == "aws:lambda/function:Function":
        function_arn = arn(typ, name, resource_id, inputs, region, account)
        return {"invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
                "qualifiedArn": f"{function_arn}:$LATEST", "version": "$LATEST"}
    if typ == "aws:apigateway/apiKey:ApiKey":
        return {"value": "mock-api-key-0123456789abcdefghij"}  # API Gateway generates it
    if typ == "aws:acm/certificate:Certificate":  # what ACM asks to find in DNS
        return {"domainValidationOptions": [{
            "domainName": inputs["domainName"], "resourceRecordType": "CNAME",
            "resourceRecordName": f"_3f2a9c.{inputs['domainName']}.",
            "resourceRecordValue": "_7b1d04.mhbtsbpdnt.acm-validations.aws."}]}
    if typ == "aws:acm/certificateValidation:CertificateValidation":
        return {"certificateArn": inputs["certificateArn"]}
    if typ == "aws:route53/record:Record":
        return {"fqdn": str(inputs["name"]).rstrip(".")}
    if typ == "aws:apigateway/domainName:DomainName":  # the targets API Gateway and CloudFront give
        return {"regionalDomainName": f"d-abc123def4.execute-api.{region}.amazonaws.com",
                "regionalZoneId": "Z1UJRXOUMOOFQ8", "cloudfrontDomainName": "d1a2b3c4d5e6f7.cloudfront.net",
                "cloudfrontZoneId": "Z2FDTNDATAQYW2"}
    if typ == "aws:sqs/queue:Queue":  # SQS answers a queue's URL, and its name is the ARN's last part
        return {"url": f"https://sqs.{region}.amazonaws.com/{account}/{name}", "name": name}
    if typ == "aws:apigateway/stage:Stage":
        return {"invokeUrl": f"https://{inputs['restApi']}.execute-api.{region}.amazonaws.com/{inputs['stageName']}"}
    return {}


def invoke(token: str, region: str = REGION, account: str = ACCOUNT) -> dict[str, Any] | None:
    """The answer of a data source that reads the account or region, or None for other tokens."""
    if token == "aws:index/getRegion:getRegion":
        return {"region": region, "name": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": account, "arn": f"arn:aws:iam::{account}:user/deployer", "id": account,
                "userId": "AIDAEXAMPLEUSERID0001"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
    return None
