"""The dashboard page and the badge: served by the read-only listing, safe with hostile route names."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from route_counter.handler import listing
from route_counter.handler.web import dashboard
from local.events import build_event

HOSTILE = "/<script>alert(1)</script>"


def get(reader, settings, target, headers=()):
    event, _ = build_event("GET", target, headers)
    return listing.handle(event, None, settings, reader)


@pytest.mark.parametrize(
    ("accept", "query", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", {}, True),  # a browser
        ("*/*", {}, False),  # curl
        (None, {}, False),
        ("application/json", {}, False),
        ("*/*", {"format": "html"}, True),
        ("text/html", {"format": "json"}, False),
    ],
)
def test_json_stays_the_default(accept, query, html):
    assert dashboard.wants_html(accept, query) is html


def test_dashboard_page_is_self_contained_and_strict(hits, reader, settings):
    hits({"/a": 3, "/b": 1})
    response = get(reader, settings, "/_counts", [("Accept", "text/html,*/*;q=0.8")])
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    page = response["body"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing loaded from elsewhere
    assert "@import" not in page and "url(" not in page
    csp = response["headers"]["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    embedded = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page).group(1))
    assert [(r["route"], r["count"]) for r in embedded["routes"]] == [("/a", 3), ("/b", 1)]
    assert reader.writes == 0


def test_hostile_route_cannot_break_out_of_the_page(hits, reader, settings):
    hits({"/%3Cscript%3Ealert(1)%3C/script%3E": 1})
    page = get(reader, settings, "/_counts?format=html")["body"]
    assert "<script>alert" not in page and "</script>alert" not in page
    assert page.count("<script") == 2  # the data island and the page's own script, nothing else
    embedded = json.loads(re.search(r'type="application/json">(.*?)</script>', page).group(1))
    assert embedded["routes"][0]["route"] == HOSTILE  # the data is intact, only its markup is escaped


def test_badge_svg_and_shields_json(writer, reader, settings):
    # The count as 1,234 hits leave it (written at once: counting them one by one took 20 s on moto).
    writer.client.put_item(TableName=settings.table_name, Item={"route": {"S": "/visits/home"}, "count": {"N": "1234"}})
    response = get(reader, settings, "/_counts/badge?route=/visits/home")
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "image/svg+xml"
    assert response["headers"]["Cache-Control"] == "public, max-age=300"
    svg = ET.fromstring(response["body"])
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == ["visits", "1,234"]
    response = get(reader, settings, "/_counts/badge?route=/visits/home&format=shields&label=views")
    assert json.loads(response["body"]) == {"schemaVersion": 1, "label": "views", "message": "1,234", "color": "blue",
                                            "style": "flat", "cacheSeconds": 300}
    assert reader.writes == 0


def test_badge_for_a_route_never_hit_shows_zero_and_escapes_its_label(reader, settings):
    response = get(reader, settings, '/_counts/badge?route=/new&label=<b>"x"')
    svg = ET.fromstring(response["body"])  # still well-formed XML
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == ['<b>"x"', "0"]


def test_badge_needs_a_route(reader, settings):
    response = get(reader, settings, "/_counts/badge")
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "bad_query"


@pytest.mark.parametrize(("query", "texts", "height", "fill"), [
    ("", ["visits", "1,234,567"], "20", "#007ec6"),
    ("&style=flat-square&color=orange", ["visits", "1,234,567"], "20", "#fe7d37"),
    ("&style=for-the-badge&abbreviated=true&color=%23ff8800", ["VISITS", "1.2M"], "28", "#ff8800"),
    ("&abbreviated=true&color=4c1", ["visits", "1.2M"], "20", "#4c1"),
])
def test_badges_take_a_colour_a_style_and_short_numbers(writer, reader, settings, query, texts, height, fill):
    writer.client.put_item(TableName=settings.table_name, Item={"route": {"S": "/big"}, "count": {"N": "1234567"}})
    response = get(reader, settings, "/_counts/badge?route=/big" + query)
    svg = ET.fromstring(response["body"])
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == texts and svg.get("height") == height
    assert fill in [r.get("fill") for r in svg.iter("{http://www.w3.org/2000/svg}rect")]


@pytest.mark.parametrize("query", ["style=plastic", "color=notacolour", "color=12345", "abbreviated=yes"])
def test_the_read_only_badge_refuses_an_unknown_option_before_reading(reader, settings, query):
    response = get(reader, settings, f"/_counts/badge?route=/big&{query}")
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "bad_query"
    assert reader.sent == {}
