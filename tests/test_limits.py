"""Per-route rate limits: the config (handler/rules/limits.py), and the counter answering 429 with one request."""

from __future__ import annotations

import json
import os

import pytest

from route_counter.handler import counter
from route_counter.handler.rules.limits import Limit, parse_rate_limits
from route_counter.handler.rules.settings import COUNT_BOTS, RATE_LIMITS, Settings
from route_counter.infra import settings as stack
from local.events import build_event
from tests.conftest import START, stored


def with_limits(spec: str) -> Settings:
    return Settings.from_env({**os.environ, RATE_LIMITS: spec})


def hit(writer, settings, target="/login", method="GET"):
    event, _ = build_event(method, target)
    response = counter.handle(event, None, settings, writer)
    return response, json.loads(response["body"])


def test_parse_and_match_the_most_specific_entry():
    limits = parse_rate_limits("/login=5/1m, /api/*=1000/1h, /api/admin/*=10/1s, /users/{id}=3/1d, /*=100000/1d")
    assert limits.match("/login") == Limit("/login", 5, "1m")
    assert limits.match("/api") == limits.match("/api/x/y") == Limit("/api/*", 1000, "1h")
    assert limits.match("/api/admin/keys") == Limit("/api/admin/*", 10, "1s")
    assert limits.match("/users/{id}") == Limit("/users/{id}", 3, "1d")
    assert limits.match("/apiary") == limits.match("/") == Limit("/*", 100000, "1d")  # segment boundaries
    assert not parse_rate_limits("") and parse_rate_limits("").match("/x") is None


@pytest.mark.parametrize("spec", ["/login", "/login=5", "/login=5/2m", "/login=0/1m", "/login=5/1w", "login=5/1m",
                                  "/a/../b=1/1s", "/a*=1/1s", "/a/*/b=1/1s", "/x=1/1s,/x=2/1m", "/x=99999999999/1s"])
def test_bad_config_is_refused_before_anything_is_created_naming_the_key(spec):
    with pytest.raises(stack.SettingsError, match="rateLimits"):
        stack.parse({"rateLimits": spec})


def test_windows_are_fixed_and_aligned_and_headers_follow_the_ietf_draft():
    limit = Limit("/login", 5, "1m")
    t = START + 15.2  # 05:30:15.2
    assert limit.reset(t) == 45
    assert limit.headers(3, t) == {"RateLimit-Policy": '"route";q=5;w=60', "RateLimit": '"route";r=3;t=45'}
    assert Limit("/x", 1, "1d").reset(START) == 18 * 3600 + 30 * 60  # to UTC midnight


@pytest.mark.parametrize("window", ["1s", "1m", "1h", "1d"])
def test_the_hit_over_the_limit_is_429_not_counted_and_costs_one_request(writer, clock, window):
    settings = with_limits(f"/login=3/{window}")
    remaining = []
    for _ in range(3):
        response, body = hit(writer, settings)
        assert response["statusCode"] == 200
        remaining.append(response["headers"]["RateLimit"])
    assert [r.split(";")[1] for r in remaining] == ["r=2", "r=1", "r=0"]
    sent = writer.sent["UpdateItem"]
    response, body = hit(writer, settings)
    assert response["statusCode"] == 429 and body["error"] == "rate_limited" and "Traceback" not in response["body"]
    assert writer.sent["UpdateItem"] == sent + 1  # one conditional update, which wrote nothing
    seconds = {"1s": 1, "1m": 60, "1h": 3600, "1d": 86400}[window]
    retry = int(response["headers"]["Retry-After"])
    assert 1 <= retry <= seconds and response["headers"]["RateLimit"] == f'"route";r=0;t={retry}'
    assert response["headers"]["RateLimit-Policy"] == f'"route";q=3;w={seconds}'
    assert "RateLimit" in response["headers"]["Access-Control-Expose-Headers"]
    assert stored(writer.client, "/login")["count"] == 3
    clock.advance(retry)  # the next window
    assert hit(writer, settings)[0]["statusCode"] == 200
    assert stored(writer.client, "/login")["count"] == 4


def test_each_route_under_a_prefix_has_its_own_window(writer):
    settings = with_limits("/api/*=1/1m")
    assert hit(writer, settings, "/api/a")[0]["statusCode"] == 200
    assert hit(writer, settings, "/api/b")[0]["statusCode"] == 200
    assert hit(writer, settings, "/api/a")[0]["statusCode"] == 429
    assert hit(writer, settings, "/other")[0]["statusCode"] == 200  # unmatched: no limit, no headers
    assert "RateLimit" not in hit(writer, settings, "/other")[0]["headers"]


def test_short_window_counters_do_not_pile_up(writer, clock):
    settings = with_limits("/login=100/1s")
    for step in range(40):
        hit(writer, settings)
        clock.advance(1 if step % 7 else 30)  # now and then an idle gap longer than the sweep
    item = writer.client.get_item(TableName=settings.table_name, Key={"route": {"S": "/login"}})["Item"]
    assert len([n for n in item if n.startswith("w:")]) <= 1


def test_a_throttled_limited_hit_is_retried_and_still_counted_once(writer, clock):
    settings = with_limits("/login=2/1m")
    writer.throttle("UpdateItem", 1)
    assert hit(writer, settings)[0]["statusCode"] == 200
    assert stored(writer.client, "/login")["count"] == 1


@pytest.mark.parametrize("window", ["1m", "1h"])
def test_a_bots_hits_find_the_window_open_but_never_fill_it(writer, window):
    """Crawlers are counted apart (countBots): they must not use up what a route allows its people."""
    settings = Settings.from_env({**os.environ, RATE_LIMITS: f"/login=2/{window}", COUNT_BOTS: "true"})
    googlebot = [("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")]
    for _ in range(3):
        event, _ = build_event("GET", "/login", googlebot)
        assert counter.handle(event, None, settings, writer)["statusCode"] == 200
    assert [hit(writer, settings)[0]["statusCode"] for _ in range(3)] == [200, 200, 429]
    assert stored(writer.client, "/login")["count"] == 2
