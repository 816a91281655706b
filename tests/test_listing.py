"""The listing handler on moto: read-only, paginated, filtered, top-N, and strict about its input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from route_counter.handler import listing
from route_counter.handler.store import queries
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


def b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "bad",
    [
        "x", "not-a-cursor", "%%%", "=", "a" * 9000, b64(b"\xff\xfe"), b64("x"), b64([]), b64({"p": "/"}),
        b64(["/"]), b64(["/", "/a", "/b"]), b64(["/", 5]), b64(["/", None]), b64(["/", "a"]), b64(["/", "/a/"]),
        b64(["/", "/a/../b"]), b64(["/", "/a\u0000"]), b64(["/", "/" + "x" * 2048]), b64(["/x", "/a"]),
    ],
)
def test_any_malformed_cursor_is_a_400(reader, settings, bad):
    response, body = get(reader, settings, f"/_counts?cursor={quote(bad)}")
    assert response["statusCode"] == 400 and body["error"] == "bad_query", bad
    assert reader.sent == {}  # refused before any read


def test_a_cursor_is_plain_data_for_its_own_filter(hits, reader, settings):
    hits({"/a": 1, "/b": 1, "/c": 1})
    _, body = get(reader, settings, "/_counts?limit=1")
    cursor = body["next"]
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[0] == "/"
    response, _ = get(reader, settings, f"/_counts?cursor={cursor}&prefix=/a")
    assert response["statusCode"] == 400  # a cursor belongs to the filter it was made for
    response, body = get(reader, settings, f"/_counts?cursor={b64(['/', '/b'])}")  # made by hand: fine, it is data
    assert response["statusCode"] == 200


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
    ["limit=0", "limit=1001", "limit=abc", "top=0", "top=1001", "top=-1", "route=/a&top=2", "top=1&cursor=x",
     "limit=\u00b2", "top=\u00b2", "top=\u0661", "limit=\uff11", "top=+5", "top= 5", "limit=1e2", "top=00000000001"],
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_top_is_cached_per_container_and_marked_cacheable(hits, reader, settings):
    hits({"/a": 2, "/b": 1})
    clock = FakeClock()

    def top():
        event, _ = build_event("GET", "/_counts?top=5")
        response = listing.handle(event, None, settings, reader, clock)
        return response, json.loads(response["body"])

    response, first = top()
    assert response["headers"]["Cache-Control"] == f"public, max-age={listing.TOP_CACHE_SECONDS}"
    scans = reader.sent["Scan"]
    hits({"/b": 5})
    clock.now += listing.TOP_CACHE_SECONDS - 1
    assert top()[1] == first and reader.sent["Scan"] == scans  # served from memory: no scan
    clock.now += 1
    assert [r["route"] for r in top()[1]["routes"]] == ["/b", "/a"]  # expired: scanned again
    assert reader.sent["Scan"] == scans + 1
    # Pages and single routes are never cached.
    assert get(reader, settings, "/_counts")[0]["headers"]["Cache-Control"] == "no-store"


def test_top_cache_is_bounded(reader, settings, table):
    clock = FakeClock()
    for n in range(1, 200):
        event, _ = build_event("GET", f"/_counts?top={n}")
        listing.handle(event, None, settings, reader, clock)
        clock.now += 0.001
    assert len(listing._top_cache) <= 64


def test_dashboard_opens_on_the_most_hit_routes_of_the_whole_table(writer, reader, settings):
    """Past one Scan page the busiest route must still be first (not the first page sorted within itself)."""
    from route_counter.handler import counter
    from tests.conftest import TABLE

    for i in range(150):
        writer.client.update_item(TableName=TABLE, Key={"route": {"S": f"/quiet/{i}"}},
                                  UpdateExpression="ADD #c :one", ExpressionAttributeNames={"#c": "count"},
                                  ExpressionAttributeValues={":one": {"N": "1"}})
    for _ in range(3):  # written last: on a later Scan page
        event, _ = build_event("GET", "/zz/busy")
        counter.handle(event, None, settings, writer)
    event, _ = build_event("GET", "/_counts?format=html")
    response = listing.handle(event, None, settings, reader)
    import re

    embedded = json.loads(re.search(r'type="application/json">(.*?)</script>', response["body"]).group(1))
    assert embedded["routes"][0] == {**embedded["routes"][0], "route": "/zz/busy", "count": 3}
    assert embedded["top"] == 100 and len(embedded["routes"]) == 100
    scan_page = get(reader, settings, "/_counts?limit=100")[1]  # the JSON page stays a Scan page
    assert len(scan_page["routes"]) == 100 and scan_page["next"]


def test_an_unexpected_exception_in_the_listing_is_a_json_500(monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(listing, "handle", broken)
    event, _ = build_event("GET", "/_counts", request_id="req-9")
    response = listing.handler(event, None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": "internal_error", "message": "the request could not be handled",
                                            "requestId": "req-9"}


@pytest.mark.parametrize(("target", "row"), [("/_counts?limit=5", "`GET /_counts?limit=100&cursor=...`"),
                                             ("/_counts?top=3", "`GET /_counts?top=10`")])
def test_the_readme_names_every_key_of_the_answer(hits, reader, settings, target, row):
    """The README's endpoint table is where a user learns the answer's shape: every key the handler sends."""
    hits({"/a": 2})
    _, body = get(reader, settings, target)
    cell = next(line for line in (Path(__file__).parents[1] / "README.md").read_text().splitlines()
                if line.startswith(f"| {row} |")).split(" | ", 2)[1]
    assert {key for key in body if f'"{key}"' not in cell} == set()
