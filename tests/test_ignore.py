"""ignoreIps: hits from the owner's own addresses are answered as usual but never counted."""

from __future__ import annotations

import json
import os

import pulumi
import pytest

from route_counter.handler import counter
from route_counter.handler.rules.addresses import ignored, parse_networks
from route_counter.handler.rules.settings import IGNORE_IPS, REDIRECTS, Settings
from route_counter.handler.web import metrics
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.conftest import stored
from tests.localapi import LocalApi
from tests.stack import run_program
from tests.test_infra import check, parliament_findings, permission_policies

MINE = "203.0.113.0/24, 2001:db8:1::/48"


@pytest.mark.parametrize(("address", "expected"), [
    ("203.0.113.7", True), ("203.0.114.7", False), ("2001:db8:1:2::5", True), ("2001:db8:2::5", False),
    ("::ffff:203.0.113.9", True),  # IPv4-mapped: the IPv4 address it is
    ("", False), ("not-an-ip", False),
])
def test_addresses_match_their_blocks(address, expected):
    assert ignored(address, parse_networks(MINE)) is expected


@pytest.fixture
def mine(writer) -> Settings:
    return Settings.from_env({**os.environ, IGNORE_IPS: MINE, REDIRECTS: "/go=https://example.com/x"})


def hit(writer, settings, target, ip):
    event, _ = build_event("GET", target, source_ip=ip)
    return counter.handle(event, None, settings, writer)


def test_an_ignored_hit_gets_the_current_count_and_writes_nothing(writer, mine):
    assert json.loads(hit(writer, mine, "/post", "198.51.100.1")["body"]) == {"route": "/post", "count": 1}
    writer.sent.clear()
    response = hit(writer, mine, "/post", "203.0.113.7")
    assert response["statusCode"] == 200 and json.loads(response["body"]) == {"route": "/post", "count": 1}
    assert response["headers"]["X-Counted"] == "false" and metrics.outcome(response) is None  # no Hits metric
    assert writer.sent == {"GetItem": 1} and stored(writer.client, "/post")["count"] == 1
    never = hit(writer, mine, "/never", "2001:db8:1::1")
    assert json.loads(never["body"]) == {"route": "/never", "count": 0} and stored(writer.client, "/never") is None


def test_an_ignored_badge_and_redirect_answer_as_usual_without_counting(writer, mine):
    hit(writer, mine, "/post", "198.51.100.1")
    badge = hit(writer, mine, "/post?format=svg", "203.0.113.7")
    assert badge["headers"]["Content-Type"] == "image/svg+xml" and ">1</text>" in badge["body"]
    redirect = hit(writer, mine, "/go", "203.0.113.7")
    assert (redirect["statusCode"], redirect["headers"]["Location"]) == (302, "https://example.com/x")
    assert stored(writer.client, "/go") is None and stored(writer.client, "/post")["count"] == 1


def test_a_store_failure_on_the_read_is_a_clear_503(writer, mine):
    writer.throttle("GetItem", 1000)
    response = hit(writer, mine, "/post", "203.0.113.7")
    assert response["statusCode"] == 503 and json.loads(response["body"])["error"] == "storage_unavailable"


@pytest.mark.parametrize(("entry", "address", "expected"), [
    ("::ffff:198.51.100.0/120", "198.51.100.7", True),  # an IPv4-mapped block is the IPv4 block it maps
    ("::ffff:198.51.100.0/120", "::ffff:198.51.100.7", True),
    ("::ffff:198.51.100.0/120", "198.51.101.7", False),
    ("10.0.0.1/8", "10.200.0.1", True),  # host bits are dropped: the /8 the owner means
    ("10.0.0.1/8", "11.0.0.1", False),
])
def test_entries_match_as_their_owner_means(entry, address, expected):
    assert ignored(address, parse_networks(entry)) is expected


def test_a_zone_id_is_refused_it_could_never_match():
    with pytest.raises(SettingsError, match="ignoreIps: 'fe80::1%eth0' has a zone id"):
        parse({"ignoreIps": "fe80::1%eth0"})


def test_a_bad_block_is_refused_naming_the_key():
    with pytest.raises(SettingsError, match="ignoreIps: '10.0.0.0/33' is not an IPv4 or IPv6 address or CIDR block"):
        parse({"ignoreIps": "203.0.113.7,10.0.0.0/33"})


@pulumi.runtime.test
def test_with_ignore_ips_the_counter_reads_but_never_scans():
    def assertions(recorder, _):
        policy = json.loads(recorder.resources["route-counter-counter-policy"].inputs["policy"])
        actions = sorted(a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
        assert "dynamodb:GetItem" in actions and "dynamodb:Scan" not in actions
        variables = {f.name: f.inputs["environment"]["variables"] for f in recorder.of_type("aws:lambda/function:Function")}
        assert variables["route-counter-counter"][IGNORE_IPS] == "203.0.113.7,2001:db8::/32"
        assert IGNORE_IPS not in variables["route-counter-listing"]
        for name, document in permission_policies(recorder).items():
            assert parliament_findings(document) == [], name

    return check(run_program(ignoreIps="203.0.113.7, 2001:db8::/32"), assertions)


@pytest.mark.e2e
def test_the_local_api_ignores_this_machine_when_told_to():
    with LocalApi("--quiet", "--ignore-ips", "127.0.0.1") as api:
        status, headers, body = api.request("GET", "/mine")
        assert (status, body, headers["x-counted"]) == (200, {"route": "/mine", "count": 0}, "false")
        assert api.request("GET", "/_counts?route=/mine")[0] == 404  # never written


@pytest.mark.parametrize(("address", "expected"), [
    ("198.51.100.1", True), ("8.8.8.8", True), ("0.0.0.0", True), ("255.255.255.255", True),
    ("::ffff:192.0.2.1", True), ("2001:db8::1", False), ("::1", False),
])
def test_the_mapped_form_of_every_ipv4_address_ignores_every_ipv4_hit(address, expected):
    """``::ffff:0.0.0.0/96`` is how some firewalls write "all of IPv4": it maps to 0.0.0.0/0."""
    assert ignored(address, parse_networks("::ffff:0.0.0.0/96")) is expected
