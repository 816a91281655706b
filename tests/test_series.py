"""Traffic over time and countries: one request per hit at every boundary, the series and windows the
listing returns, old items, and country counts only where the header can be trusted."""

from __future__ import annotations

import json
import os

import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules import buckets, schema
from route_counter.handler.rules.settings import COUNT_COUNTRIES, Settings
from local.events import build_event
from tests.conftest import TABLE

H, D = buckets.HOUR, buckets.DAY
A = schema.bucket_attribute  # "2026-11-24T05" -> the item attribute of that hour


def hit(writer, settings, target, headers=()):
    event, _ = build_event("GET", target, headers)
    response = counter.handle(event, None, settings, writer)
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def get(reader, settings, target):
    event, _ = build_event("GET", target)
    response = listing.handle(event, None, settings, reader)
    return response["statusCode"], json.loads(response["body"])


def test_every_hit_is_one_request_across_hour_and_day_boundaries(writer, settings, clock):
    # From 05:30 across 06:00, midnight and more days, with gaps up to 6 hours (what a hit sweeps).
    steps = [0.001, 59.999, 1, 35 * 60] + [6 * H] * 12 + [1]
    for step in steps:
        clock.advance(step)
        hit(writer, settings, "/x")
    assert writer.sent == {"UpdateItem": len(steps)}


def test_route_query_adds_hourly_and_daily_series(writer, reader, settings, clock):
    times = [0, 60, 2 * H + 60, 2 * H + 65, D + 2 * H + 60]  # 05:30, 05:31, 07:31, 07:31, next day 07:31
    for t in times:
        clock.now = t
        hit(writer, settings, "/x")
    status, record = get(reader, settings, "/_counts?route=/x")
    assert status == 200
    assert record["hourly"] == {"2026-11-24T05": 2, "2026-11-24T07": 2, "2026-11-25T07": 1}
    assert record["daily"] == {"2026-11-24": 4, "2026-11-25": 1}
    assert record["count"] == 5 and "countries" not in record


def test_expired_buckets_are_left_out_and_removed(writer, reader, settings, clock):
    hit(writer, settings, "/x")
    clock.now = 60 * D  # two months later: nothing of the first hit is in the retained range
    hit(writer, settings, "/x")
    item = writer.client.get_item(TableName=TABLE, Key={"route": {"S": "/x"}})["Item"]
    assert sorted(n for n in item if buckets.is_bucket(n)) == [A("2027-01-23"), A("2027-01-23T05")]
    assert writer.sent["UpdateItem"] == 3  # the second hit found a leftover past its sweep: one cleanup
    record = get(reader, settings, "/_counts?route=/x")[1]
    assert record["hourly"] == {"2027-01-23T05": 1} and record["daily"] == {"2027-01-23": 1}


def test_old_items_without_buckets_read_as_zero_history_and_upgrade_on_their_next_hit(writer, reader, settings):
    writer.client.put_item(TableName=TABLE, Item={"route": {"S": "/old"}, "count": {"N": "7"},
                                                  "count:GET": {"N": "7"}, "firstSeen": {"S": "2025-01-01T00:00:00.000Z"},
                                                  "lastSeen": {"S": "2025-02-01T00:00:00.000Z"}})
    record = get(reader, settings, "/_counts?route=/old")[1]
    assert (record["count"], record["hourly"], record["daily"]) == (7, {}, {})
    assert get(reader, settings, "/_counts?window=30d")[1]["routes"] == []
    assert hit(writer, settings, "/old")["count"] == 8
    record = get(reader, settings, "/_counts?route=/old")[1]
    assert record["hourly"] == {"2026-11-24T05": 1} and record["firstSeen"] == "2025-01-01T00:00:00.000Z"


@pytest.fixture
def history(writer, settings, clock):
    """/a: 5 hits 40 days ago; /b: 2 hits 3 days ago; /c: 1 hit now, /c/d 3 hits 2 hours ago."""
    plan = [("/a", -40 * D, 5), ("/b", -3 * D, 2), ("/c/d", -2 * H, 3), ("/c", 0, 1)]
    for route, at, n in plan:
        clock.now = at
        for _ in range(n):
            hit(writer, settings, route)
    clock.now = 0


@pytest.mark.parametrize(("query", "expected"), [
    ("window=1h", [("/c", 1)]),
    ("window=24h", [("/c/d", 3), ("/c", 1)]),
    ("window=7d", [("/c/d", 3), ("/b", 2), ("/c", 1)]),
    ("window=30d", [("/c/d", 3), ("/b", 2), ("/c", 1)]),
    ("window=7d&top=2", [("/c/d", 3), ("/b", 2)]),
    ("window=24h&prefix=/c&top=5", [("/c/d", 3), ("/c", 1)]),
    ("window=7d&prefix=/b", [("/b", 2)]),
])
def test_window_ranks_and_filters_routes_by_hits_in_it(history, reader, settings, query, expected):
    status, body = get(reader, settings, "/_counts?" + query)
    assert status == 200
    assert [(r["route"], r["windowCount"]) for r in body["routes"]] == expected


def test_top_carries_totals_for_the_chart(history, reader, settings):
    body = get(reader, settings, "/_counts?top=10")[1]
    assert body["totals"]["hourly"] == {"2026-11-24T03": 3, "2026-11-24T05": 1}
    assert body["totals"]["daily"] == {"2026-11-21": 2, "2026-11-24": 4}  # /a is 40 days old: past the range
    assert "hourly" not in body["routes"][0]
    assert "hourly" in get(reader, settings, "/_counts?top=10&series=1")[1]["routes"][0]


@pytest.mark.parametrize("query", ["window=2h", "window=", "window=24H", "series=yes"])
def test_a_bad_window_is_400(reader, settings, table, query):
    status, body = get(reader, settings, "/_counts?" + query)
    assert status == 400 and body["error"] == "bad_query"
    assert set(reader.sent) <= {"Scan", "GetItem"} and not reader.sent


def test_countries_are_counted_only_when_the_edge_sets_them(writer, reader, settings):
    edge = Settings.from_env({**os.environ, COUNT_COUNTRIES: "true"})
    for country in ("DE", "US", "US", "XX", "de", "", "GBR", "XK"):
        hit(writer, edge, "/x", [("CloudFront-Viewer-Country", country)])
    hit(writer, edge, "/x")
    hit(writer, settings, "/x", [("CloudFront-Viewer-Country", "FR")])  # REGIONAL: anyone can send it
    assert writer.sent == {"UpdateItem": 10}
    record = get(reader, settings, "/_counts?route=/x")[1]
    assert record["countries"] == {"US": 2, "DE": 1} and record["count"] == 10


def test_country_codes_are_exactly_iso_3166_1_alpha_2():
    """handler/rules/countries.py is a constant (the asset needs no package); the maintained iso3166 package
    checks it: every officially assigned code, and nothing else (Kosovo's user-assigned XK included)."""
    import iso3166

    from route_counter.handler.rules.countries import CODES

    assert CODES == {c.alpha2 for c in iso3166.countries} - {"XK"}
    assert len(CODES) == 249
