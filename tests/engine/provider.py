"""Stand-in `aws` and `random` resource providers for the engine tests: the real CLI and engine drive them
exactly as they drive pulumi-aws, and they answer as AWS would, without an AWS account.

Served over the gRPC service the `pulumi` package on PyPI ships (`pulumi.runtime.proto.ResourceProviderServicer`).
Properties are handled in their wire form (a Struct made plain), not through the SDK's experimental
`PropertyValue`, because that drops the hash the engine puts on every asset and archive, and the hash is
how a changed code asset shows as a diff (and an unchanged one as none).

What they do:
- check inputs for what AWS refuses (name lengths and characters, JSON documents, Lambda's 4 KB environment,
  tag limits) and auto-name a resource as Pulumi does: logical name, "-", 7 random hex digits, kept for
  the resource's life;
- answer with IDs and ARNs in each service's own format (tests/aws_shapes.py, shared with the mocks);
- report a diff exactly when an input changed, and a replacement when a property that forces one in
  pulumi-aws changed (FORCE_NEW below, from the provider's resource schemas; every other property the
  program sets is listed in UPDATABLE), delete-first where pulumi-aws replaces so
  (DELETE_BEFORE_REPLACE), and no diff for an Optional+Computed input left out (KEPT_WHEN_OMITTED);
- keep a small fake account on disk (STANDIN_CLOUD): a physical name taken by any stack is refused to
  another, a log subscription filter beyond AWS's two per group is refused, and a DynamoDB table with
  deletion protection cannot be deleted, and a stage's access log is refused while the account has no
  API Gateway CloudWatch role. `aws.cloudwatch.get_log_group` reads the log groups there (the engine
  tests add an API's existing groups with `seed_log_group`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests import aws_shapes  # noqa: E402
from tests.engine import schemas, serving  # noqa: E402

serving.lean_proto()
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc  # noqa: E402

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown value
SIG = "4dabf18193072939515e22adb298388d"
SECRET, ASSET, ARCHIVE, OUTPUT = ("1b47061264138c4ac30d75fd1eb44270", "c44067f5952c0a294b673a41bacd8c17",
                                  "0def7320c3a5731c473e5ecbe6d01bc7", "d0e6a833031e9bbcd3f4e8bde6ca49a4")

# The properties whose change replaces the resource in pulumi-aws / pulumi-random: ForceNew in
# terraform-provider-aws's resource schemas (internal/service/<service>/<resource>.go), which pulumi-aws
# bridges, e.g. aws_cloudwatch_log_subscription_filter's destination_arn, log_group_name and name
# (internal/service/logs/subscription_filter.go); pulumi-random's in its own resources; and `region`,
# which pulumi-aws 7 adds to every resource, where the issue #39 review of its schema found it replaces.
FORCE_NEW = {
    "aws:apigateway/deployment:Deployment": {"restApi", "triggers", "variables"},
    "aws:apigateway/stage:Stage": {"restApi", "stageName"},
    "aws:apigateway/methodSettings:MethodSettings": {"restApi", "stageName", "methodPath"},
    "aws:apigateway/apiKey:ApiKey": {"value"},
    "aws:apigateway/usagePlanKey:UsagePlanKey": {"keyId", "keyType", "usagePlanId"},
    "aws:apigateway/domainName:DomainName": {"domainName"},
    "aws:apigateway/basePathMapping:BasePathMapping": {"domainName"},
    "aws:cloudwatch/dashboard:Dashboard": {"dashboardName"},
    "aws:cloudwatch/logGroup:LogGroup": {"name", "namePrefix", "logGroupClass"},
    "aws:cloudwatch/metricAlarm:MetricAlarm": {"name"},
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": {"name", "logGroup", "destinationArn"},
    "aws:dynamodb/table:Table": {"name", "hashKey", "rangeKey"},
    "aws:iam/role:Role": {"name", "namePrefix", "path"},
    "aws:iam/rolePolicy:RolePolicy": {"name", "namePrefix", "role"},
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {"role", "policyArn"},
    "aws:lambda/function:Function": {"name"},
    "aws:lambda/permission:Permission": {"action", "function", "principal", "qualifier", "sourceAccount", "sourceArn",
                                         "statementId", "statementIdPrefix", "principalOrgId", "eventSourceToken"},
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": {"functionName", "qualifier"},
    "aws:sns/topic:Topic": {"name", "namePrefix", "fifoTopic"},
    "aws:sns/topicSubscription:TopicSubscription": {"topic", "protocol", "endpoint"},
    "aws:sqs/queue:Queue": {"name", "namePrefix", "fifoQueue"},
    "aws:s3/bucket:Bucket": {"bucket", "bucketPrefix"},
    "aws:s3/bucketObjectv2:BucketObjectv2": {"bucket", "key"},
    "aws:s3/bucketPolicy:BucketPolicy": {"bucket"},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {"bucket"},
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {"bucket"},
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {"bucket"},
    "aws:s3/bucketVersioning:BucketVersioning": {"bucket"},
    "aws:wafv2/webAcl:WebAcl": {"name", "namePrefix", "scope"},
    "aws:wafv2/webAclAssociation:WebAclAssociation": {"resourceArn", "webAclArn"},
    "aws:budgets/budget:Budget": {"name", "namePrefix", "accountId"},
    "aws:acm/certificate:Certificate": {"domainName", "subjectAlternativeNames", "validationMethod", "keyAlgorithm",
                                        "region"},
    "aws:acm/certificateValidation:CertificateValidation": {"certificateArn", "validationRecordFqdns", "region"},
    "aws:route53/record:Record": {"zoneId", "name", "type"},
    "random:index/randomBytes:RandomBytes": {"length", "keepers"},
}

# The properties the program sets that change in place (not ForceNew in terraform-provider-aws's schemas,
# which pulumi-aws bridges): with FORCE_NEW, a decision for every property the program sets, so a new one
# cannot slip in as a silent in-place update (tests/test_standins.py checks every one has a decision).
UPDATABLE = {
    "aws:apigateway/account:Account": {"cloudwatchRoleArn"},
    "aws:apigateway/apiKey:ApiKey": {"description", "enabled", "name"},
    "aws:apigateway/basePathMapping:BasePathMapping": {"restApi", "stageName", "basePath"},
    "aws:apigateway/deployment:Deployment": {"description"},
    "aws:apigateway/domainName:DomainName": {"certificateArn", "endpointConfiguration", "securityPolicy",
                                              "regionalCertificateArn"},
    "aws:apigateway/methodSettings:MethodSettings": {"settings"},
    "aws:apigateway/restApi:RestApi": {"body", "description", "endpointConfiguration", "putRestApiMode", "name",
                                       "policy"},
    "aws:apigateway/stage:Stage": {"accessLogSettings", "deployment", "xrayTracingEnabled", "variables"},
    "aws:apigateway/usagePlan:UsagePlan": {"apiStages", "description", "name", "throttleSettings", "quotaSettings"},
    "aws:budgets/budget:Budget": {"budgetType", "costFilters", "limitAmount", "limitUnit", "notifications", "timeUnit"},
    "aws:cloudwatch/dashboard:Dashboard": {"dashboardBody"},
    "aws:cloudwatch/logGroup:LogGroup": {"retentionInDays"},
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": {"filterPattern"},
    "aws:cloudwatch/metricAlarm:MetricAlarm": {
        "alarmActions", "alarmDescription", "comparisonOperator", "datapointsToAlarm", "dimensions",
        "evaluationPeriods", "metricName", "metricQueries", "namespace", "okActions", "period", "statistic",
        "threshold", "thresholdMetricId", "treatMissingData"},
    "aws:dynamodb/table:Table": {"attributes", "billingMode", "deletionProtectionEnabled", "pointInTimeRecovery",
                                 "serverSideEncryption", "ttl"},
    "aws:iam/role:Role": {"assumeRolePolicy", "description"},
    "aws:iam/rolePolicy:RolePolicy": {"policy"},
    "aws:lambda/function:Function": {"architectures", "code", "environment", "handler", "loggingConfig", "memorySize",
                                     "reservedConcurrentExecutions", "role", "runtime", "timeout", "tracingConfig"},
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": {
        "destinationConfig", "maximumEventAgeInSeconds", "maximumRetryAttempts"},
    "aws:s3/bucket:Bucket": {"forceDestroy"},
    "aws:s3/bucketObjectv2:BucketObjectv2": {"contentType", "source"},
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {"rule"},
    "aws:s3/bucketPolicy:BucketPolicy": {"policy"},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {"blockPublicAcls", "blockPublicPolicy",
                                                               "ignorePublicAcls", "restrictPublicBuckets"},
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {"rules"},
    "aws:s3/bucketVersioning:BucketVersioning": {"versioningConfiguration"},
    "aws:sqs/queue:Queue": {"messageRetentionSeconds", "sqsManagedSseEnabled"},
    "aws:wafv2/webAcl:WebAcl": {"customResponseBodies", "defaultAction", "description", "rules", "visibilityConfig"},
    "aws:route53/record:Record": {"aliases", "allowOverwrite", "records", "ttl"},
}
ALWAYS_UPDATABLE = {"tags", "tagsAll"}

# Replaced delete-first: pulumi-aws's resource_overrides.go sets DeleteBeforeReplace on these (a log
# group's filter of one name can exist once; an attachment of one role and policy once). Between the
# delete and the create the old one is gone and the new one not there yet: for a filter, lines logged then
# reach no meter (docs/metering.md, "Updates that replace a subscription").
DELETE_BEFORE_REPLACE = {"aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter",
                         "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
# Optional and Computed in the provider's schema: leaving the input out keeps what the resource has, so
# removing it from the program shows no diff (a table's ttl block: TTL stays on; docs/data-model.md).
KEPT_WHEN_OMITTED = {"aws:dynamodb/table:Table": {"ttl"}}

# The property Pulumi auto-names, and the longest name AWS takes there.
AUTONAME = {
    "aws:dynamodb/table:Table": ("name", 255), "aws:lambda/function:Function": ("name", 64),
    "aws:iam/role:Role": ("name", 64), "aws:iam/rolePolicy:RolePolicy": ("name", 128),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512), "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255),
    "aws:sns/topic:Topic": ("name", 256), "aws:sqs/queue:Queue": ("name", 80), "aws:s3/bucket:Bucket": ("bucket", 63),
    "aws:apigateway/restApi:RestApi": ("name", 1024), "aws:apigateway/apiKey:ApiKey": ("name", 1024),
    "aws:apigateway/usagePlan:UsagePlan": ("name", 1024), "aws:wafv2/webAcl:WebAcl": ("name", 128),
    "aws:budgets/budget:Budget": ("name", 100), "aws:lambda/permission:Permission": ("statementId", 100),
}

# What must be unique in an account, and in which scope: a second stack that names the same thing fails.
def _unique_key(typ: str, props: dict[str, Any], region: str) -> str | None:
    scopes = {
        "aws:dynamodb/table:Table": (region, "name"), "aws:lambda/function:Function": (region, "name"),
        "aws:iam/role:Role": ("global", "name"), "aws:cloudwatch/logGroup:LogGroup": (region, "name"),
        "aws:cloudwatch/metricAlarm:MetricAlarm": (region, "name"), "aws:sns/topic:Topic": (region, "name"),
        "aws:sqs/queue:Queue": (region, "name"), "aws:s3/bucket:Bucket": ("global", "bucket"),
        "aws:cloudwatch/dashboard:Dashboard": ("global", "dashboardName"), "aws:budgets/budget:Budget": ("global", "name"),
        "aws:wafv2/webAcl:WebAcl": (region, "name"), "aws:apigateway/domainName:DomainName": (region, "domainName"),
        "aws:iam/rolePolicy:RolePolicy": ("role", "name"),
        "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": ("logGroup", "name"),
        "aws:lambda/permission:Permission": ("function", "statementId"),
    }
    if typ not in scopes:
        return None
    scope, prop = scopes[typ]
    scope_value = scope if scope in (region, "global") else str(_plain(props.get(scope)))
    return f"{typ}|{scope_value}|{_plain(props.get(prop))}"


class Refused(Exception):
    """What AWS answers when it refuses a request: shown to the user as the provider's error."""


# ---- property values -------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A value as a program sees it: secrets and output values unwrapped, an asset or archive by its hash."""
    if isinstance(value, dict):
        sig = value.get(SIG)
        if sig == SECRET:
            return _plain(value.get("value"))
        if sig == OUTPUT:
            return _plain(value["value"]) if "value" in value else UNKNOWN
        if sig in (ASSET, ARCHIVE):
            return {"hash": value.get("hash") or json.dumps(value, sort_keys=True)}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _has_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def _to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def _secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET, "value": value}


# ---- the fake account ------------------------------------------------------------------------------------

def cloud_dir() -> Path:
    return Path(os.environ.get("STANDIN_CLOUD") or Path(os.environ.get("PULUMI_HOME", ".")) / "standin-cloud")


@contextlib.contextmanager
def account(folder: Path | None = None) -> Iterator[dict[str, Any]]:
    """The fake account's objects, locked against other provider processes (two stacks at once)."""
    folder = folder or cloud_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = folder / "account.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("objects", {})
        yield data
        path.write_text(json.dumps(data, indent=1, sort_keys=True))


def seed_log_group(folder: Path, name: str, region: str = aws_shapes.REGION, log_group_class: str = "STANDARD") -> None:
    """An existing log group in the fake account, as if another team's API had made it."""
    with account(folder) as data:
        data["objects"][f"aws:cloudwatch/logGroup:LogGroup|{region}|{name}"] = {
            "urn": "", "props": {"name": name, "logGroupClass": log_group_class, "retentionInDays": 0}}


# ---- checks ----------------------------------------------------------------------------------------------

_POLICY_PROPS = {"aws:iam/role:Role": "assumeRolePolicy", "aws:iam/rolePolicy:RolePolicy": "policy",
                 "aws:s3/bucketPolicy:BucketPolicy": "policy"}
_LOG_RETENTION = {0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653}


def check_failures(typ: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """What AWS (or the provider's own validation) refuses in these inputs. Unknown values are not judged."""
    plain = _plain(props)
    failures: list[tuple[str, str]] = []

    def known(key: str) -> bool:
        return key in plain and plain[key] is not None and not _has_unknown(plain[key])

    if typ in AUTONAME:
        prop, longest = AUTONAME[typ]
        if known(prop) and len(str(plain[prop])) > longest:
            failures.append((prop, f"expected length of {prop} to be in the range (1 - {longest}), got {plain[prop]}"))
    if typ == "aws:lambda/function:Function":
        for required in ("role", "handler", "runtime"):
            if required not in plain:
                failures.append((required, f"Missing required argument: {required}"))
        if known("name") and not re.fullmatch(r"[A-Za-z0-9_-]+", plain["name"]):
            failures.append(("name", f"invalid function name {plain['name']!r}"))
        if known("memorySize") and not 128 <= plain["memorySize"] <= 10240:
            failures.append(("memorySize", "expected memory_size to be in the range (128 - 10240)"))
        if known("timeout") and not 1 <= plain["timeout"] <= 900:
            failures.append(("timeout", "expected timeout to be in the range (1 - 900)"))
        variables = (plain.get("environment") or {}).get("variables") if known("environment") else None
        if variables and len(json.dumps(variables, separators=(",", ":")).encode()) > 4096:
            failures.append(("environment", "InvalidParameterValueException: Lambda was unable to configure your "
                                            "environment variables because they exceeded the 4 KB limit"))
    if typ in _POLICY_PROPS and known(_POLICY_PROPS[typ]):
        try:
            json.loads(plain[_POLICY_PROPS[typ]])
        except (TypeError, ValueError):
            failures.append((_POLICY_PROPS[typ], "MalformedPolicyDocument: the policy is not valid JSON"))
    if typ == "aws:cloudwatch/logGroup:LogGroup" and known("retentionInDays") \
            and plain["retentionInDays"] not in _LOG_RETENTION:
        failures.append(("retentionInDays", f"expected retention_in_days to be one of {sorted(_LOG_RETENTION)}"))
    if typ == "aws:apigateway/stage:Stage" and known("stageName") \
            and not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", plain["stageName"]):
        failures.append(("stageName", "BadRequestException: Stage name only allows a-zA-Z0-9_-"))
    if typ == "aws:wafv2/webAcl:WebAcl" and known("name") and not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", plain["name"]):
        failures.append(("name", "expected name to match ^[0-9A-Za-z_-]+$ (1-128 characters)"))
    if typ == "aws:wafv2/webAcl:WebAcl" and known("rules"):
        for n, rule in enumerate(plain["rules"] or []):
            limit = ((rule.get("statement") or {}).get("rateBasedStatement") or {}).get("limit")
            if isinstance(limit, (int, float)) and not 100 <= limit <= 2_000_000_000:
                # pulumi-aws 7 still validates 100 here although WAF takes 10 (pulumi/pulumi-aws#5841, open)
                failures.append(("rules", f"expected rule.{n}.statement.0.rate_based_statement.0.limit to be in the "
                                          f"range (100 - 2000000000), got {int(limit)}"))
    if typ == "aws:dynamodb/table:Table" and known("hashKey") and known("attributes") \
            and plain["hashKey"] not in {a.get("name") for a in plain["attributes"]}:
        failures.append(("hashKey", "all indexes must match a defined attribute"))
    if known("tags"):
        tags = plain["tags"]
        most = 10 if typ.startswith("aws:s3/bucketObject") else 50
        if len(tags) > most:
            failures.append(("tags", f"at most {most} tags, got {len(tags)}"))
        for key, value in tags.items():
            if len(key) > 128 or (value is not None and len(str(value)) > 256):
                failures.append(("tags", f"tag {key!r}: keys up to 128 characters, values up to 256"))
    return failures


# ---- the provider ----------------------------------------------------------------------------------------

class StandInProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, package: str, version: str) -> None:
        self.package, self.version = package, version
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""

    # -- plugin and configuration --
    async def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=self.version)

    async def GetSchema(self, request, context):
        """The schema of the resources this stand-in serves, read back from the installed SDK (schemas.py):
        Pulumi YAML's host resolves every resource type and property through it."""
        served = {token for table in (FORCE_NEW, UPDATABLE) for token in table if token.startswith(f"{self.package}:")}
        return provider_pb2.GetSchemaResponse(schema=json.dumps(schemas.package_schema(self.package, self.version, served)))

    async def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    async def DiffConfig(self, request, context):
        olds, news = _plain(_to_dict(request.olds)), _plain(_to_dict(request.news))
        changed = sorted(k for k in set(olds) | set(news) if k != "version" and olds.get(k) != news.get(k))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed)

    async def Configure(self, request, context):
        args = _plain(_to_dict(request.args))
        region = args.get("region") or request.variables.get(f"{self.package}:config:region") or self.region
        if self.package == "aws" and not region:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "missing region: set aws:region, AWS_REGION or AWS_DEFAULT_REGION")
        self.region = region
        # Preview support, as pulumi-aws has: a planned update keeps its inputs known (a stage's name stays
        # known while the stage changes), so what depends on them is not reported as changing.
        return provider_pb2.ConfigureResponse(acceptSecrets=True, acceptResources=True, supportsPreview=True)

    async def Cancel(self, request, context):
        return empty_pb2.Empty()

    # -- resources --
    async def Check(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        news, olds = _to_dict(request.news), _to_dict(request.olds)
        if typ in AUTONAME:
            prop, longest = AUTONAME[typ]
            if prop not in news:
                if olds.get(prop):
                    news[prop] = olds[prop]  # a name, once made, stays for the resource's life
                else:
                    prefix = news.get("namePrefix") or f"{request.urn.split('::')[-1]}-"
                    suffix = (request.randomSeed or os.urandom(4)).hex()[:7]
                    name = f"{_plain(prefix)}{suffix}"
                    news[prop] = name.lower() if typ == "aws:s3/bucket:Bucket" else name
        failures = [provider_pb2.CheckFailure(property=p, reason=r) for p, r in check_failures(typ, news)]
        return provider_pb2.CheckResponse(inputs=_to_struct(news), failures=failures)

    async def Diff(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        olds = _plain(_to_dict(request.old_inputs)) if request.HasField("old_inputs") else _plain(_to_dict(request.olds))
        news = _plain(_to_dict(request.news))
        kept = KEPT_WHEN_OMITTED.get(typ, set())
        changed = sorted(k for k in set(olds) | set(news)
                         if (olds.get(k) != news.get(k) or _has_unknown(news.get(k))) and not (k in kept and k not in news))
        replaces = [k for k in changed if k in FORCE_NEW.get(typ, ())]
        kinds = provider_pb2.PropertyDiff
        detailed = {}
        for k in changed:
            replace = k in replaces
            if k not in olds:
                kind = kinds.ADD_REPLACE if replace else kinds.ADD
            elif k not in news:
                kind = kinds.DELETE_REPLACE if replace else kinds.DELETE
            else:
                kind = kinds.UPDATE_REPLACE if replace else kinds.UPDATE
            detailed[k] = kinds(kind=kind, inputDiff=True)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed, replaces=replaces, detailedDiff=detailed, hasDetailedDiff=True,
            deleteBeforeReplace=bool(replaces) and typ in DELETE_BEFORE_REPLACE)

    def _outputs(self, typ: str, urn: str, resource_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        plain = _plain(inputs)
        name = str(plain.get(AUTONAME.get(typ, ("name",))[0]) or plain.get("name") or urn.split("::")[-1])
        outputs = dict(inputs)
        found = aws_shapes.arn(typ, name, resource_id, plain, self.region)
        if found:
            outputs["arn"] = found
        outputs.update(aws_shapes.computed(typ, name, resource_id, plain, self.region))
        if typ == "random:index/randomBytes:RandomBytes":
            raw = os.urandom(int(plain["length"]))
            outputs.update(base64=_secret(base64.b64encode(raw).decode()), hex=_secret(raw.hex()))
        return outputs

    def _new_id(self, typ: str, urn: str, props: dict[str, Any]) -> str:
        plain = _plain(props)
        if typ in ("aws:dynamodb/table:Table", "aws:lambda/function:Function", "aws:iam/role:Role",
                   "aws:cloudwatch/logGroup:LogGroup", "aws:cloudwatch/metricAlarm:MetricAlarm"):
            return str(plain["name"])
        if typ == "aws:s3/bucket:Bucket":
            return str(plain["bucket"])
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            return str(plain["dashboardName"])
        if typ == "aws:sns/topic:Topic":
            return str(aws_shapes.arn(typ, plain["name"], "", plain, self.region))
        if typ == "aws:sqs/queue:Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{aws_shapes.ACCOUNT}/{plain['name']}"
        if typ == "aws:apigateway/stage:Stage":
            return f"ags-{plain['restApi']}-{plain['stageName']}"
        if typ == "aws:lambda/permission:Permission":
            return str(plain["statementId"])
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return f"{plain['role']}:{plain['name']}"
        if typ == "aws:wafv2/webAcl:WebAcl":
            return str(uuid.uuid4())
        if typ == "aws:budgets/budget:Budget":
            return f"{aws_shapes.ACCOUNT}:{plain['name']}"
        if typ == "aws:apigateway/deployment:Deployment":
            return aws_shapes.short_id(urn, uuid.uuid4().hex, length=6)
        return aws_shapes.short_id(urn, uuid.uuid4().hex)

    def _claim(self, typ: str, urn: str, props: dict[str, Any]) -> None:
        key = _unique_key(typ, props, self.region)
        if key is None:
            return
        with account() as data:
            holder = data["objects"].get(key)
            if holder is not None and holder["urn"] != urn:
                raise Refused(f"creating {typ.split(':')[-1]} {key.split('|')[-1]!r}: AlreadyExists: it exists in "
                              f"this account already (made by {holder['urn'] or 'someone else'})")
            if typ == "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter":
                group = str(_plain(props.get("logGroup")))
                filters = [k for k in data["objects"] if k.startswith(f"{typ}|{group}|")]
                if len(filters) >= 2:
                    raise Refused(f"putting CloudWatch Logs Subscription Filter on {group}: LimitExceededException: "
                                  "Resource limit exceeded (2 subscription filters per log group)")
            data["objects"][key] = {"urn": urn, "props": _plain(props)}

    def _release(self, typ: str, urn: str, props: dict[str, Any]) -> None:
        key = _unique_key(typ, props, self.region)
        if key is None:
            return
        with account() as data:
            if data["objects"].get(key, {}).get("urn") == urn:
                del data["objects"][key]

    def _logging_role(self, typ: str, props: dict[str, Any]) -> str | None:
        """Record the account's API Gateway CloudWatch role (an Account resource sets it per region), and
        refuse a stage's access log while there is none, as API Gateway does (UpdateStage/CreateStage)."""
        plain = _plain(props)
        with account() as data:
            roles = data.setdefault("apigatewayLogsRole", {})
            if typ == "aws:apigateway/account:Account" and plain.get("cloudwatchRoleArn"):
                roles[self.region] = plain["cloudwatchRoleArn"]
            if typ == "aws:apigateway/stage:Stage" and plain.get("accessLogSettings") and not roles.get(self.region):
                return ("updating API Gateway Stage: BadRequestException: CloudWatch Logs role ARN must be set in "
                        "account settings to enable logging")
        return None

    async def Create(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        props = _to_dict(request.properties)
        if not request.preview:
            refused = self._logging_role(typ, props)
            if refused:
                await context.abort(grpc.StatusCode.UNKNOWN, refused)
        if request.preview:  # what the service will compute is not known before it has
            planned = {k: (v if k in props else UNKNOWN)
                       for k, v in self._outputs(typ, request.urn, "preview", props).items()}
            return provider_pb2.CreateResponse(id="", properties=_to_struct(planned))
        try:
            self._claim(typ, request.urn, props)
        except Refused as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        resource_id = self._new_id(typ, request.urn, props)
        return provider_pb2.CreateResponse(id=resource_id,
                                           properties=_to_struct(self._outputs(typ, request.urn, resource_id, props)))

    async def Update(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        olds, news = _to_dict(request.olds), _to_dict(request.news)
        if not request.preview:
            refused = self._logging_role(typ, news)
            if refused:
                await context.abort(grpc.StatusCode.UNKNOWN, refused)
        outputs = self._outputs(typ, request.urn, request.id, news)
        for key, value in olds.items():  # what the service computed once stays (a key's value, an ARN)
            if key not in news and key not in outputs:
                outputs[key] = value
        if typ == "random:index/randomBytes:RandomBytes":
            outputs.update(base64=olds["base64"], hex=olds["hex"])
        return provider_pb2.UpdateResponse(properties=_to_struct(outputs))

    async def Delete(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        props = _to_dict(request.properties)
        if typ == "aws:dynamodb/table:Table" and _plain(props.get("deletionProtectionEnabled")):
            await context.abort(grpc.StatusCode.UNKNOWN,
                                f"deleting DynamoDB Table ({_plain(props.get('name'))}): ValidationException: Resource "
                                "cannot be deleted as it is currently protected against deletion. Disable deletion "
                                "protection first.")
        self._release(typ, request.urn, props)
        return empty_pb2.Empty()

    async def Read(self, request, context):
        typ = request.type or request.urn.split("::")[-2]
        if typ == "aws:dynamodb/table:Table" and not _to_dict(request.properties):  # a get(): look it up
            found = self._table_here(request.id)
            if found is None:
                # What the bridged provider answers for a resource that does not exist: no id (pulumi-terraform-
                # bridge, pkg/tfbridge/provider.go, Read), which the engine reports as not found.
                return provider_pb2.ReadResponse(id="")
            outputs = self._outputs(typ, request.urn, request.id, found)
            return provider_pb2.ReadResponse(id=request.id, properties=_to_struct(outputs), inputs=_to_struct({}))
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    def _table_here(self, name: str) -> dict[str, Any] | None:
        """A table of that name in this region: made here, or a global table's replica here (DynamoDB keeps
        a replica under its table's name in each replica region)."""
        with account() as data:
            for key, held in data["objects"].items():
                typ, region, held_name = key.split("|", 2)
                if typ != "aws:dynamodb/table:Table" or held_name != name:
                    continue
                replicas = {r.get("regionName") for r in held["props"].get("replicas") or []}
                if region == self.region or self.region in replicas:
                    return {k: v for k, v in held["props"].items() if k != "tags"}
        return None

    async def Invoke(self, request, context):
        args = _plain(_to_dict(request.args))
        found = aws_shapes.invoke(request.tok, self.region)
        if found is None and request.tok == "aws:cloudwatch/getLogGroup:getLogGroup":
            with account() as data:
                group = data["objects"].get(f"aws:cloudwatch/logGroup:LogGroup|{self.region}|{args.get('name')}")
            if group is None:
                await context.abort(grpc.StatusCode.UNKNOWN,
                                    f"reading CloudWatch Logs Log Group ({args.get('name')}): couldn't find resource")
            props = group["props"]
            found = {"name": props["name"], "id": props["name"],
                     "arn": aws_shapes.arn("aws:cloudwatch/logGroup:LogGroup", props["name"], "", props, self.region),
                     "logGroupClass": props.get("logGroupClass") or "STANDARD",
                     "retentionInDays": props.get("retentionInDays") or 0, "kmsKeyId": "", "tags": {},
                     "creationTime": 1795498200000}
        if found is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the stand-in {self.package} provider has no {request.tok}")
        return provider_pb2.InvokeResponse(**{"return": _to_struct(found)})


def main(argv: list[str]) -> int:
    """``provider.py PACKAGE VERSION [engine flags] ENGINE_ADDRESS``."""
    if len(argv) < 2:
        print("usage: provider.py PACKAGE VERSION [flags] ENGINE_ADDRESS", file=sys.stderr)
        return 2
    provider = StandInProvider(argv[0], argv[1])
    return serving.run(lambda server: provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
