"""Unique visitors and bots: the handler on moto (two requests at most, privacy), the stack under mocks,
and the local API over HTTP."""

from __future__ import annotations

import base64
import json
import logging
import os

import pulumi
import pytest

from route_counter.handler import counter
from route_counter.handler.rules import visitors
from route_counter.handler.rules.settings import COUNT_BOTS, VISITOR_SECRET, VISITOR_TABLE, Settings
from route_counter.infra import asset
from local.events import build_event
from tests.conftest import START
from tests.stack import MOCK_SECRET_B64, run_program
from tests.test_infra import FUNCTION, POLICY, check, parliament_findings, permission_policies

MARKERS = "route-counts-test-visitors"
SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IP = "203.0.113.77"
D = 86400


@pytest.fixture
def markers(writer):
    writer.client.create_table(**visitors.create_table_kwargs(MARKERS))
    writer.sent.clear()
    return MARKERS


@pytest.fixture
def settings_on(markers) -> Settings:
    return Settings.from_env({**os.environ, VISITOR_TABLE: markers, VISITOR_SECRET: SECRET, COUNT_BOTS: "true"})


def hit(writer, settings, route="/post", ua=CHROME, ip=IP, query=""):
    event, _ = build_event("GET", route + query, [("User-Agent", ua)] if ua is not None else [], source_ip=ip)
    response = counter.handle(event, None, settings, writer)
    assert response["statusCode"] == 200, response
    return response


def record(writer, route="/post"):
    from route_counter.handler.store import queries

    return queries.get_route(writer.client, "route-counts-test", route, queries.View(START + 0.0))


def test_the_same_visitor_twice_a_day_is_one_visitor_and_two_hits(writer, settings_on, clock):
    hit(writer, settings_on)
    hit(writer, settings_on)
    assert writer.sent == {"PutItem": 2, "UpdateItem": 2}  # two requests per hit, no more
    r = record(writer)
    assert (r["count"], r["visitors"], r["dailyVisitors"]) == (2, 1, {"2026-11-24": 1})


def test_another_user_agent_ip_route_or_day_is_a_new_visitor(writer, settings_on, clock):
    hit(writer, settings_on)
    hit(writer, settings_on, ua=FIREFOX)
    hit(writer, settings_on, ip="198.51.100.1")
    hit(writer, settings_on, route="/other")
    assert record(writer)["visitors"] == 3 and record(writer, "/other")["visitors"] == 1
    clock.advance(D)  # the next UTC day: a new salt, so the same person is a new visitor
    hit(writer, settings_on)
    r = record(writer)
    assert r["visitors"] == 4 and r["count"] == 4


def test_no_raw_ip_or_user_agent_is_stored_or_logged_and_markers_expire_within_two_days(writer, settings_on, caplog):
    with caplog.at_level(logging.DEBUG):
        hit(writer, settings_on)
        writer.throttle("UpdateItem", 100)  # a failing hit logs, and its marker is taken back
        event, _ = build_event("GET", "/fail", [("User-Agent", CHROME)], source_ip=IP)
        assert counter.handle(event, None, settings_on, writer)["statusCode"] == 503
    stored = [writer.client.scan(TableName=t)["Items"] for t in ("route-counts-test", MARKERS)]
    text = json.dumps(stored) + "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for secret in (IP, "203.0.113", CHROME, "Chrome/131", "Linux x86_64"):
        assert secret not in text
    (markers,) = stored[1:]
    assert len(markers) == 1 and set(markers[0]) == {visitors.MARKER_KEY, visitors.MARKER_EXPIRES}
    expires = int(markers[0][visitors.MARKER_EXPIRES]["N"])
    assert START < expires <= START + 2 * D  # DynamoDB TTL deletes it within about two days


def test_a_listed_crawler_is_answered_but_counted_as_a_bot(writer, settings_on):
    response = hit(writer, settings_on, ua=GOOGLEBOT)
    assert json.loads(response["body"]) == {"route": "/post", "count": 0}
    hit(writer, settings_on, ua="")  # no User-Agent is not a bot by itself
    hit(writer, settings_on, ua=None)
    r = record(writer)
    assert (r["count"], r["bots"], r["visitors"]) == (2, 1, 1)  # both UA-less hits: one visitor (same IP, same "")
    assert writer.sent["PutItem"] == 2  # the bot's hit wrote no marker
    off = Settings.from_env(os.environ)
    hit(writer, off, ua=GOOGLEBOT)
    assert record(writer)["count"] == 3  # countBots off: a crawler counts like anyone


def test_the_badge_counts_a_visitor_too(writer, settings_on):
    response = hit(writer, settings_on, route="/visits/readme", query="?format=svg")
    assert response["headers"]["Content-Type"] == "image/svg+xml" and ">1</text>" in response["body"]
    assert record(writer, "/visits/readme")["visitors"] == 1


def test_the_visitor_hash_is_keyed_by_day_and_secret():
    a = visitors.marker(b"k" * 32, START, IP, CHROME, "/x")
    assert a == visitors.marker(b"k" * 32, START + 3600, IP, CHROME, "/x")
    assert a != visitors.marker(b"k" * 32, START + D, IP, CHROME, "/x")
    assert a != visitors.marker(b"j" * 32, START, IP, CHROME, "/x")
    assert len(a[visitors.MARKER_KEY]["S"]) == 4 + 1 + 32


@pulumi.runtime.test
def test_the_stack_with_unique_visitors_and_bots():
    def assertions(recorder, component):
        tables = {r.name: r.inputs for r in recorder.of_type("aws:dynamodb/table:Table")}
        markers = tables["route-counter-visitors"]
        assert markers["ttl"] == {"attributeName": "expires", "enabled": True}
        assert markers["hashKey"] == "id" and markers["billingMode"] == "PAY_PER_REQUEST"
        fns = {f.name: f.inputs for f in recorder.of_type(FUNCTION)}
        variables = fns["route-counter-counter"]["environment"]["variables"]
        assert variables["COUNT_BOTS"] == "true" and variables["VISITOR_TABLE"] == "route-counter-visitors-1a2b3c4"
        assert variables["VISITOR_SECRET"] == MOCK_SECRET_B64
        assert MOCK_SECRET_B64 not in json.dumps({k: str(v) for k, v in component.outputs.items()})
        policy = json.loads(recorder.resources["route-counter-counter-policy"].inputs["policy"])
        (marks,) = [s for s in policy["Statement"] if s["Sid"] == "VisitorMarkers"]
        assert marks["Action"] == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
        assert marks["Resource"].endswith(":table/route-counter-visitors-1a2b3c4")
        listing = json.loads(recorder.resources["route-counter-listing-policy"].inputs["policy"])
        assert "visitors" not in json.dumps(listing)  # the listing never sees markers
        for name, document in permission_policies(recorder).items():
            assert parliament_findings(document) == [], name
        secret = component.visitor_secret.base64
        return pulumi.Output.is_secret(secret)

    return check(run_program(uniqueVisitors=True, countBots=True), assertions)


@pulumi.runtime.test
def test_without_unique_visitors_there_is_no_marker_table_or_secret():
    def assertions(recorder, _):
        assert len(recorder.of_type("aws:dynamodb/table:Table")) == 1
        assert recorder.of_type("random:index/randomBytes:RandomBytes") == []
        variables = {f.name: f.inputs["environment"]["variables"] for f in recorder.of_type(FUNCTION)}
        assert variables["route-counter-counter"]["VISITOR_SECRET"] == "" and POLICY

    return check(run_program(), assertions)


def test_asset_ships_the_crawler_list_that_the_tests_use():
    import crawleruseragents

    files = asset.asset_files()
    assert files["crawleruseragents/__init__.py"].samefile(crawleruseragents.__file__)


def test_over_the_local_api_visitors_and_bots_and_the_cli_shows_them():
    import subprocess
    import sys

    from tests.localapi import ROOT, LocalApi

    with LocalApi("--quiet", "--unique-visitors", "--count-bots") as api:
        for ua in (CHROME, CHROME, FIREFOX, GOOGLEBOT):
            assert api.request("GET", "/post", {"User-Agent": ua})[0] == 200
        status, headers, svg = api.request("GET", "/visits/readme?format=svg&label=views", {"User-Agent": CHROME})
        assert status == 200 and headers["cache-control"] == "no-cache, no-store, max-age=0" and b">1</text>" in svg
        r = api.request("GET", "/_counts?route=/post")[2]
        assert (r["count"], r["visitors"], r["bots"]) == (3, 2, 1)
        listed = api.request("GET", "/_counts?top=10")[2]["routes"]
        assert {x["route"] for x in listed} == {"/post", "/visits/readme"}  # markers never listed
        result = subprocess.run([sys.executable, "-m", "counts", "--endpoint", api.base, "list"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        head, *lines = result.stdout.splitlines()
        assert head.split()[:3] == ["hits", "visitors", "bots"]
        assert lines[0].split()[:3] == ["3", "2", "1"] and lines[0].endswith("/post")


def test_a_new_visitors_hit_sweeps_the_visitor_bucket_that_just_expired(writer, settings_on):
    """Visitor buckets leave the item in the hit's own update, like hit buckets: no second request."""
    from route_counter.handler.rules import buckets, schema

    expired = buckets.day_name(int(START // D) - buckets.DAYS_KEPT)  # the day that just left the 32 kept
    writer.client.put_item(TableName="route-counts-test", Item={
        schema.KEY: {"S": "/post"}, schema.COUNT: {"N": "1"}, expired: {"N": "1"},
        buckets.visitors_of(expired): {"N": "1"}})
    writer.sent.clear()
    hit(writer, settings_on)
    assert writer.sent == {"PutItem": 1, "UpdateItem": 1}  # the marker and the one update: no cleanup
    item = writer.client.get_item(TableName="route-counts-test", Key={schema.KEY: {"S": "/post"}})["Item"]
    assert expired not in item and buckets.visitors_of(expired) not in item


def test_markers_of_two_days_never_match_and_need_the_days_salt():
    """The daily rotation docs/privacy.md promises: the same visitor on two days gives unrelated hashes."""
    secret = base64.b64decode(SECRET)
    today = visitors.marker(secret, START, IP, CHROME, "/post")[visitors.MARKER_KEY]["S"]
    tomorrow = visitors.marker(secret, START + D, IP, CHROME, "/post")[visitors.MARKER_KEY]["S"]
    assert today.split(":")[1] != tomorrow.split(":")[1]
    assert today == visitors.marker(secret, START + 60, IP, CHROME, "/post")[visitors.MARKER_KEY]["S"]  # same day
    other_stack = visitors.marker(b"another stack's secret, 32 bytes", START, IP, CHROME, "/post")
    assert other_stack[visitors.MARKER_KEY]["S"] != today
