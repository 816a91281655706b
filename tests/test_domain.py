"""A custom domain (domainName): a certificate brought or requested, the mapping, the alias, the outputs."""

from __future__ import annotations

import pulumi
import pytest

from route_counter.infra import component as rc
from route_counter.infra.settings import SettingsError, parse
from tests.aws_shapes import ACCOUNT
from tests.stack import run_program
from tests.test_infra import check

CERT = f"arn:aws:acm:{{}}:{ACCOUNT}:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
DOMAIN, ZONE = "count.example.com", "Z0123456789ABCDEFGHIJ"


def of(recorder, typ):
    return [r for r in recorder.resources.values() if r.type == typ]


@pulumi.runtime.test
def test_a_regional_domain_with_your_certificate_maps_the_stage_and_moves_the_outputs():
    def assertions(recorder, component):
        (domain,) = of(recorder, "aws:apigateway/domainName:DomainName")
        assert domain.inputs["domainName"] == DOMAIN and domain.inputs["regionalCertificateArn"] == CERT.format("us-east-1")
        assert "certificateArn" not in domain.inputs and domain.inputs["securityPolicy"] == "TLS_1_2"
        assert domain.inputs["endpointConfiguration"] == {"types": "REGIONAL"} and domain.inputs["tags"]["pulumi:stack"]
        (mapping,) = of(recorder, "aws:apigateway/basePathMapping:BasePathMapping")
        assert (mapping.inputs["stageName"], mapping.inputs["domainName"]) == ("v1", DOMAIN)
        assert of(recorder, "aws:acm/certificate:Certificate") == [] and of(recorder, "aws:route53/record:Record") == []
        return pulumi.Output.all(component.url, component.counts_url, component.outputs[rc.OUTPUT_DOMAIN_TARGET]).apply(
            lambda v: v == [f"https://{DOMAIN}", f"https://{DOMAIN}/_counts", "d-abc123def4.execute-api.us-east-1.amazonaws.com"]
            or pytest.fail(str(v)))

    return check(run_program(domainName=DOMAIN, certificateArn=CERT.format("us-east-1")), assertions)


@pulumi.runtime.test
@pytest.mark.parametrize(("endpoint", "region", "aliases"), [("REGIONAL", None, ["A"]), ("EDGE", "us-east-1", ["A", "AAAA"])])
def test_with_a_hosted_zone_the_stack_requests_validates_and_points_the_name(endpoint, region, aliases):
    def assertions(recorder, component):
        (certificate,) = of(recorder, "aws:acm/certificate:Certificate")
        assert certificate.inputs["domainName"] == DOMAIN and certificate.inputs["validationMethod"] == "DNS"
        assert certificate.inputs.get("region") == region  # CloudFront's certificates live in us-east-1
        records = {r.name: r.inputs for r in of(recorder, "aws:route53/record:Record")}
        proof = records["route-counter-certificate-record"]
        assert (proof["zoneId"], proof["type"], proof["name"]) == (ZONE, "CNAME", f"_3f2a9c.{DOMAIN}.")
        (validation,) = of(recorder, "aws:acm/certificateValidation:CertificateValidation")
        assert validation.inputs["validationRecordFqdns"] == [f"_3f2a9c.{DOMAIN}"]
        alias = [r for name, r in records.items() if name.startswith("route-counter-alias-")]
        assert sorted(r["type"] for r in alias) == aliases and all(r["name"] == DOMAIN for r in alias)
        target = ("d1a2b3c4d5e6f7.cloudfront.net", "Z2FDTNDATAQYW2") if endpoint == "EDGE" else \
            ("d-abc123def4.execute-api.us-east-1.amazonaws.com", "Z1UJRXOUMOOFQ8")
        assert all((r["aliases"][0]["name"], r["aliases"][0]["zoneId"]) == target for r in alias)
        (domain,) = of(recorder, "aws:apigateway/domainName:DomainName")
        key = "certificateArn" if endpoint == "EDGE" else "regionalCertificateArn"
        assert domain.inputs[key].startswith(f"arn:aws:acm:{region or 'us-east-1'}:")  # the validated certificate
        assert rc.OUTPUT_DOMAIN_TARGET not in component.outputs  # the stack made the record itself

    return check(run_program(domainName=DOMAIN, hostedZoneId=ZONE, endpointType=endpoint), assertions)


@pulumi.runtime.test
def test_without_a_domain_nothing_changes():
    def assertions(recorder, component):
        assert of(recorder, "aws:apigateway/domainName:DomainName") == [] and component.domain is None
        assert rc.OUTPUT_DOMAIN_TARGET not in component.outputs

    return check(run_program(), assertions)


@pytest.mark.parametrize(("config", "region", "message"), [
    ({"domainName": DOMAIN}, None, "domainName needs either certificateArn"),
    ({"domainName": DOMAIN, "certificateArn": CERT.format("us-east-1"), "hostedZoneId": ZONE}, None, "not both"),
    ({"certificateArn": CERT.format("us-east-1")}, None, "go with domainName, which is not set"),
    ({"domainName": "not a domain", "hostedZoneId": ZONE}, None, "domainName must be a domain name"),
    ({"domainName": DOMAIN, "certificateArn": "arn:aws:acm:us-east-1:1:cert"}, None, "certificateArn must be an ACM"),
    ({"domainName": DOMAIN, "hostedZoneId": "zone-1"}, None, "hostedZoneId must be a Route 53 hosted zone ID"),
    ({"domainName": DOMAIN, "certificateArn": CERT.format("eu-west-1"), "endpointType": "EDGE"}, None,
     "a certificate in eu-west-1, but an EDGE endpoint is served by CloudFront"),
    ({"domainName": DOMAIN, "certificateArn": CERT.format("us-east-1")}, "eu-west-1",
     "a REGIONAL endpoint takes one from the stack's region (eu-west-1)"),
])
def test_domain_config_is_checked_before_anything_is_created(config, region, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(config, region=region)


def test_a_certificate_of_the_stacks_region_is_accepted():
    settings = parse({"domainName": "Count.Example.com", "certificateArn": CERT.format("eu-west-1")}, region="eu-west-1")
    assert settings.domain_name == "count.example.com"


def test_a_certificate_of_another_region_is_refused_by_the_provider_s_region():
    """No aws:region and no AWS_REGION: the region comes from the AWS profile, so the program asks the provider
    (aws.get_region) and checks the certificate against its answer at preview."""
    from route_counter.infra.domain import certificate_in

    assert certificate_in(CERT.format("us-east-1"), "us-east-1") == CERT.format("us-east-1")
    with pytest.raises(pulumi.RunError, match="certificate in eu-west-1, but a REGIONAL endpoint takes one from the "
                                              "stack's region \\(us-east-1, as the AWS provider resolves it\\)"):
        certificate_in(CERT.format("eu-west-1"), "us-east-1")


@pulumi.runtime.test
def test_a_regional_domain_s_certificate_passes_through_the_provider_s_region():
    _, program = run_program("prod", domainName=DOMAIN, certificateArn=CERT.format("us-east-1"), endpointType="REGIONAL")
    found = program["route_counter"].domain.domain.regional_certificate_arn
    return found.apply(lambda arn: _same(arn, CERT.format("us-east-1")))


def _same(found, expected):
    assert found == expected
