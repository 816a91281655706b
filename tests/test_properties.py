"""Property-based checks (hypothesis): derandomised locally so `make test` is repeatable, fresh random seeds
and 10x the examples in CI (profiles in tests/conftest.py)."""

from __future__ import annotations

import json
import unicodedata
from xml.etree import ElementTree

import base64

from hypothesis import given, settings, strategies as st

from route_counter.handler import counter, listing
from route_counter.handler.web import badge
from route_counter.handler.rules.routes import DYNAMODB_KEY_LIMIT, INVISIBLE, RouteError, RouteRules, normalize, parse_templates, under_prefix
from local.events import build_event
from tests.conftest import examples
CONTROL = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
segments = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
paths = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(segments, st.sampled_from(["", ".", "..", "%00", "%2F", "%C0%AF", "%zz", "%", "\u00e9"])),
             max_size=12).map("/".join),
)


@settings(max_examples=examples(2000))
@given(paths)
def test_normalize_is_idempotent_and_only_raises_route_errors(path):
    try:
        once = normalize(path)
    except RouteError as exc:
        assert exc.status == 400 and any(c in path for c in CONTROL) or any(0xD800 <= ord(c) <= 0xDFFF for c in path) \
            or any(unicodedata.category(c) in INVISIBLE for c in path)
        return
    assert normalize(once) == once
    assert once.startswith("/") and "//" not in once and (once == "/" or not once.endswith("/"))
    assert not any(s in (".", "..") for s in once.split("/"))


@settings(max_examples=examples(2000))
@given(paths, st.integers(1, DYNAMODB_KEY_LIMIT))
def test_resolve_never_exceeds_the_byte_limit_or_keeps_control_characters(path, limit):
    rules = RouteRules(max_bytes=limit, templates=parse_templates("/users/{id}"))
    try:
        route = rules.resolve(path)
    except RouteError as exc:
        assert exc.status in (400, 404, 414)
        return
    assert len(route.encode("utf-8")) <= limit
    assert not any(c in CONTROL or unicodedata.category(c) in INVISIBLE for c in route)
    assert rules.resolve(route, encoded=False) == route  # a stored key resolves to itself


# Hostile proxy events: start from a valid event, then break it.
def valid_event(method: str, path: str) -> dict:
    return build_event(method, path)[0]


junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30), st.binary(max_size=30),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "PROPFIND",
                                     "", "G\x00T", "TRACE", "CONNECT"]), st.text(max_size=10))
hostile_paths = st.one_of(
    paths,
    st.just("/" + "a" * 10_240),
    st.sampled_from(["/%00", "/a%0Ab", "/%C0%AF", "/%E0%80%AF", "/%ED%A0%80", "/../../etc/passwd", "/a/./../b",
                     "/%2e%2e/x", "/%", "/%%41", "//", "/\u202e", "/\ufeff"]),
    # The listing path spelled every way: never counted.
    st.sampled_from(["/_counts", "/%5Fcounts", "/%5fcounts/x", "/x/%2E%2E/_counts", "/x/..%2F_counts", "//_counts/./",
                     "/_counts/badge", "/a/%2e%2e/%5F%63ounts"]),
)
# Digits of other scripts, which str.isdigit() (but not the listing) takes for numbers.
unicode_digits = st.text(alphabet=st.sampled_from("0123456789\u00b2\u00b3\u00b9\u0661\u0967\uff11\U0001d7ce+- ."),
                         min_size=1, max_size=6)
cursors = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()),
    st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=8), st.just("/a")),
                 lambda inner: st.lists(inner, max_size=3), max_leaves=4)
    .map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()),
)
query_values = st.one_of(st.text(max_size=20), unicode_digits, cursors, hostile_paths.map(lambda p: p[:100]))


@st.composite
def hostile_events(draw):
    event = valid_event("GET", "/seed")
    event["httpMethod"] = draw(methods)
    path = draw(hostile_paths)
    event["pathParameters"] = {"proxy": path.lstrip("/")} if path.strip("/") else None
    event["resource"] = "/{proxy+}" if event["pathParameters"] else "/"
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "junk", "huge_header", "binary_body", "junk_nested"]))
        key = draw(st.sampled_from(sorted(event)))
        if action == "drop":
            event.pop(key, None)
        elif action == "junk":
            event[key] = draw(junk)
        elif action == "huge_header":
            headers = event.get("headers")
            event["headers"] = {**(headers if isinstance(headers, dict) else {}), "X-Big": "x" * 65_536}
        elif action == "binary_body":
            event["body"], event["isBase64Encoded"] = "//79/A==", True
        elif action == "junk_nested":
            event["pathParameters"] = {"proxy": draw(junk)}
    if draw(st.booleans()):
        event["queryStringParameters"] = draw(st.one_of(junk, st.dictionaries(
            st.sampled_from(["route", "top", "limit", "cursor", "prefix", "format", "label", "x"]), query_values,
            max_size=4)))
    return event


@settings(max_examples=examples(1000))
@given(event=hostile_events())
def test_hostile_events_never_500_never_leak_and_write_only_when_counted(writer, reader, settings, event, report):
    for handle, client in ((counter.handle, writer), (listing.handle, reader)):
        writes_before = writer.writes
        response = handle(event, None, settings, client)
        assert 200 <= response["statusCode"] < 500, response  # no input is a server error
        if handle is counter.handle and response["statusCode"] == 200:  # nothing under the listing path counted
            assert not under_prefix(json.loads(response["body"])["route"], "/_counts"), response
        assert "Traceback" not in response["body"] and "botocore" not in response["body"]
        if response["body"] and response["headers"].get("Content-Type") == "application/json":
            json.loads(response["body"])
        assert response["headers"]["Access-Control-Allow-Origin"] == "*"
        if handle is counter.handle:  # one write for a 200, none for anything rejected
            assert writer.writes - writes_before == (1 if response["statusCode"] == 200 else 0)
            report.count("hostile events: counted" if response["statusCode"] == 200 else "hostile events: rejected")
    assert reader.writes == 0  # the listing never writes
    report.count("hostile proxy events tried (each into both handlers)")


@settings(max_examples=examples(1000))
@given(st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=()), max_size=80),
                 st.sampled_from(["\ufffe", "\uffff", "a\ud800b", "\x00", "<script>", "]]>", "&amp;", "\u202e"])),
       st.integers(0, 10**15),
       st.dictionaries(st.sampled_from(["color", "style", "abbreviated"]),
                       st.one_of(st.sampled_from([*badge.STYLES, *badge.COLORS, "true", "false", "f80", "#00ff00"]),
                                 st.text(max_size=12)), max_size=3))
def test_any_label_and_options_make_a_badge_that_parses_as_xml(label, count, query):
    """Whatever ?label=, color=, style= and abbreviated= hold, the counting badge's SVG is well-formed XML (a
    browser shows nothing for one that is not); the read-only badge either agrees or refuses (400)."""
    options = badge.badge_options(query, strict=False)
    svg, shields = badge.badge(badge.badge_label(label), count, options)
    root = ElementTree.fromstring(svg.encode("utf-8"))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[1].lower() == shields["message"].lower() and 1 <= len(shields["label"]) <= 40
    assert texts[0] == (shields["label"].upper() if options.style == "for-the-badge" else shields["label"])
    try:
        assert badge.badge_options(query, strict=True) == options  # all known: the same badge
    except badge.BadBadge:  # refused: and rightly, some one option is unknown on its own
        assert any(_refused({key: value}) for key, value in query.items())


def _refused(query: dict) -> bool:
    try:
        badge.badge_options(query, strict=True)
    except badge.BadBadge:
        return True
    return False
