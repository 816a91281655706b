"""A custom domain (``domainName``): the API on your own name. Either a certificate you bring
(``certificateArn``) or one the stack requests and validates through DNS in your Route 53 zone
(``hostedZoneId``, which also gets the alias record); a base path mapping to the stage either way.

EDGE endpoints are served by CloudFront, which takes certificates from us-east-1 only; REGIONAL ones take a
certificate of the stack's own region (API Gateway Developer Guide, "Custom domain names"). pulumi-aws 7
places a resource in another region with its ``region`` argument, so no second provider is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

EDGE_CERTIFICATE_REGION = "us-east-1"
SECURITY_POLICY = "TLS_1_2"  # API Gateway's strictest for both endpoint types


@dataclass(frozen=True)
class DomainParts:
    domain: aws.apigateway.DomainName
    mapping: aws.apigateway.BasePathMapping
    certificate: aws.acm.Certificate | None  # only with hostedZoneId
    validation: aws.acm.CertificateValidation | None
    records: list[aws.route53.Record]  # the certificate's validation record and the alias, with hostedZoneId
    target: pulumi.Output[str]  # where a CNAME or alias of yours points, without hostedZoneId


def certificate_in(certificate_arn: str, region: str) -> str:
    """The certificate, when it is in the provider's region (a REGIONAL endpoint takes one from there)."""
    where = certificate_arn.split(":")[3]
    if region and where != region:
        raise pulumi.RunError(f"certificateArn is a certificate in {where}, but a REGIONAL endpoint takes one from "
                              f"the stack's region ({region}, as the AWS provider resolves it)")
    return certificate_arn


def create(name: str, domain_name: str, certificate_arn: str | None, hosted_zone_id: str | None,
           endpoint_type: str, api: aws.apigateway.RestApi, stage: aws.apigateway.Stage,
           opts: pulumi.ResourceOptions) -> DomainParts:
    edge = endpoint_type == "EDGE"
    records: list[aws.route53.Record] = []
    certificate = validation = None
    arn: pulumi.Input[str]
    if certificate_arn:
        # Config time checks the region the stack names (aws:region, AWS_REGION); one that comes from an AWS
        # profile only the provider knows, so it is asked here, at preview, before anything is created.
        arn = certificate_arn if edge else aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=api)).region.apply(
            lambda region: certificate_in(certificate_arn, region))
    else:
        assert hosted_zone_id  # settings: one of the two
        certificate = aws.acm.Certificate(
            f"{name}-certificate", domain_name=domain_name, validation_method="DNS",
            region=EDGE_CERTIFICATE_REGION if edge else None, opts=opts,
        )
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        proof = aws.route53.Record(
            f"{name}-certificate-record", zone_id=hosted_zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=300,
            allow_overwrite=True, opts=opts,
        )
        records.append(proof)
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation", certificate_arn=certificate.arn, validation_record_fqdns=[proof.fqdn],
            region=EDGE_CERTIFICATE_REGION if edge else None, opts=opts,
        )
        arn = validation.certificate_arn  # issued: the domain waits for it
    domain = aws.apigateway.DomainName(
        f"{name}-domain", domain_name=domain_name, security_policy=SECURITY_POLICY,
        endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(types=endpoint_type),
        certificate_arn=arn if edge else None, regional_certificate_arn=None if edge else arn, opts=opts,
    )
    mapping = aws.apigateway.BasePathMapping(
        f"{name}-base-path", rest_api=api.id, stage_name=stage.stage_name, domain_name=domain.domain_name, opts=opts,
    )
    target = domain.cloudfront_domain_name if edge else domain.regional_domain_name
    if hosted_zone_id:
        zone = domain.cloudfront_zone_id if edge else domain.regional_zone_id
        # CloudFront answers IPv6 too; a regional endpoint is IPv4 here, so it gets an A record only.
        for kind in ("A", "AAAA") if edge else ("A",):
            records.append(aws.route53.Record(
                f"{name}-alias-{kind.lower()}", zone_id=hosted_zone_id, name=domain_name, type=kind,
                aliases=[aws.route53.RecordAliasArgs(name=target, zone_id=zone, evaluate_target_health=False)],
                opts=opts,
            ))
    return DomainParts(domain, mapping, certificate, validation, records, target)
