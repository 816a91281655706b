"""The listing handler on moto: read-only, paginated, filtered, top-N, and strict about its input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from handler import listing, queries
from local.events import build_event

EVENTS = Path(__file__).parent / "events"


def get(reader, settings, target, method="GET", headers=()):
    event, function = build_event(method, target, headers)
    assert function == "listing"
    response = listing.handle(event, None, settings, reader)
    body = json.loads(response["body"]) if response["body"] else None
    return response, body


def no_writes(reader):
    return set(reader.sent) <= {"Scan", "GetItem"}


def test_lists_every_route_with_counts_sorted(hits, reader, settings):
    hits({"/a": 3, "/b": 1, "/c/d": 2})
    response, body = get(reader, settings, "/_counts")
    assert response["statusCode"] == 200
    assert [(r["route"], r["count"]) for r in body["routes"]] == [("/a", 3), ("/c/d", 2), ("/b", 1)]
    assert body["routes"][0]["methods"] == {"GET": 3}
    assert body["routes"][0]["firstSeen"] <= body["routes"][0]["lastSeen"]
    assert body["next"] is None
    assert no_writes(reader) and reader.sent["Scan"] == 1


def test_sample_aws_listing_event(hits, reader, settings):
    hits({"/a": 1, "/b": 2, "/c": 3})
    event = json.loads((EVENTS / "rest_listing_get.json").read_text())
    body = json.loads(listing.handle(event, None, settings, reader)["body"])
    assert len(body["routes"]) == 2 and body["next"]


def test_pagination_visits_every_route_once(hits, reader, settings):
    hits({f"/r{i}": i + 1 for i in range(23)})
    seen, cursor, pages = [], None, 0
    while True:
        _, body = get(reader, settings, "/_counts?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        assert len(body["routes"]) <= 5
        counts = [r["count"] for r in body["routes"]]
        assert counts == sorted(counts, reverse=True)
        seen += [r["route"] for r in body["routes"]]
        pages += 1
        cursor = body["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"/r{i}" for i in range(23))
    assert pages in (5, 6)  # the last full page may hand back a cursor to an empty page
    assert no_writes(reader)


def test_tampered_cursor_is_a_400(hits, reader, settings):
    hits({"/a": 1, "/b": 1, "/c": 1})
    _, body = get(reader, settings, "/_counts?limit=1")
    cursor = body["next"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in (forged, cursor[:-2], "not-a-cursor", "%%%"):
        response, body = get(reader, settings, f"/_counts?cursor={bad}")
        assert response["statusCode"] == 400 and body["error"] == "bad_query", bad
    response, _ = get(reader, settings, f"/_counts?cursor={cursor}&prefix=/a")
    assert response["statusCode"] == 400  # a cursor belongs to the filter it was made for


def test_single_route_via_get_item(hits, reader, settings):
    hits({"/a/b": 2})
    response, body = get(reader, settings, "/_counts?route=/a/b/")
    assert response["statusCode"] == 200 and body["route"] == "/a/b" and body["count"] == 2
    response, body = get(reader, settings, "/_counts?route=/never")
    assert response["statusCode"] == 404 and body["error"] == "route_not_found"
    assert reader.sent == {"GetItem": 2}


def test_prefix_filter_is_segment_bounded(hits, reader, settings):
    hits({"/api": 1, "/api/x": 2, "/apix": 5, "/other": 1})
    _, body = get(reader, settings, "/_counts?prefix=/api")
    assert [r["route"] for r in body["routes"]] == ["/api/x", "/api"]


def test_top_n_over_the_whole_table(hits, reader, settings):
    hits({f"/r{i}": i % 7 + 1 for i in range(30)})
    _, body = get(reader, settings, "/_counts?top=3")
    assert [r["count"] for r in body["routes"]] == [7, 7, 7]
    assert body["truncated"] is False and body["scanned"] == 30


def test_top_n_reports_truncation_at_its_bound(hits, reader, settings, monkeypatch):
    hits({f"/r{i}": 1 for i in range(12)})
    monkeypatch.setattr(queries.top_routes, "__defaults__", (5,))
    _, body = get(reader, settings, "/_counts?top=2")
    assert body["truncated"] is True and body["scanned"] == 5 and len(body["routes"]) == 2


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "top=0", "top=1001", "top=-1", "route=/a&top=2", "top=1&cursor=x"],
)
def test_bad_query_is_a_400(reader, settings, query):
    response, body = get(reader, settings, f"/_counts?{query}")
    assert response["statusCode"] == 400 and body["error"] == "bad_query"
    assert reader.sent == {}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405_with_allow_and_write_nothing(reader, settings, method):
    response, body = get(reader, settings, "/_counts", method)
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "GET, HEAD, OPTIONS"
    assert reader.sent == {}


def test_head_and_preflight(hits, reader, settings):
    hits({"/a": 1})
    response, _ = get(reader, settings, "/_counts", "HEAD")
    assert response["statusCode"] == 200
    response, _ = get(reader, settings, "/_counts", "OPTIONS", [("Origin", "https://x.example")])
    assert response["statusCode"] == 204 and response["headers"]["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


def test_unknown_listing_subpath_is_404(reader, settings):
    response, body = get(reader, settings, "/_counts/nope")
    assert response["statusCode"] == 404 and body["error"] == "not_found"


def test_storage_failure_is_a_json_5xx(reader, settings):
    reader.throttle("Scan", 1)
    response, body = get(reader, settings, "/_counts")
    assert response["statusCode"] == 503 and body["error"] == "throttled" and response["headers"]["Retry-After"]
    reader.refuse("Scan", 100)
    response, body = get(reader, settings, "/_counts")
    assert response["statusCode"] == 503 and body["error"] == "storage_unavailable"
    assert "Traceback" not in response["body"]
