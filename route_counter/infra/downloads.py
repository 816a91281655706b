"""The downloads bucket: private, versioned, encrypted, TLS only, holding exactly the configured files.
Created only when the stack has ``downloads``; without them there is no bucket and no S3 grant at all."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from route_counter.handler.rules.links import Download


@dataclass(frozen=True)
class DownloadParts:
    bucket: aws.s3.Bucket
    objects: list[aws.s3.BucketObjectv2]
    object_arns: list[pulumi.Output[str]]
    guards: list[pulumi.Resource]  # public access block, ownership, versioning, encryption, policy


def content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Bucket policy: any request over plain HTTP is refused, whoever makes it."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


def create(name: str, downloads: list[Download], opts: pulumi.ResourceOptions) -> DownloadParts:
    def child(**kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(**kwargs))

    # The objects are copies of files in this repository, so removing the stack may remove them.
    bucket = aws.s3.Bucket(f"{name}-downloads", force_destroy=True, opts=child())
    guards: list[pulumi.Resource] = [
        aws.s3.BucketPublicAccessBlock(
            f"{name}-downloads-public-access-block", bucket=bucket.id, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=child()),
        aws.s3.BucketOwnershipControls(
            f"{name}-downloads-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child()),
        aws.s3.BucketVersioning(
            f"{name}-downloads-versioning", bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child()),
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-downloads-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))], opts=child()),
    ]
    guards.append(aws.s3.BucketPolicy(
        f"{name}-downloads-policy", bucket=bucket.id, policy=pulumi.Output.json_dumps(deny_insecure_transport(bucket.arn)),
        opts=child(depends_on=guards[:1])))  # after the public access block, as AWS evaluates them together
    objects = [
        # A changed file is a new object version on the next `pulumi up` (versioning is on).
        aws.s3.BucketObjectv2(
            f"{name}-download-{re.sub(r'[^A-Za-z0-9]+', '-', d.route).strip('-') or 'root'}",
            bucket=bucket.id, key=d.key, source=pulumi.FileAsset(d.source), content_type=content_type(d.source),
            opts=child(depends_on=guards))
        for d in downloads
    ]
    arns = [pulumi.Output.concat(bucket.arn, "/", d.key) for d in downloads]
    return DownloadParts(bucket, objects, arns, guards)
