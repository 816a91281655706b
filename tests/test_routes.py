"""Route rules: truth tables for the pure functions every other part relies on."""

from __future__ import annotations

import re

import pytest

from route_counter.handler.rules.routes import RouteError, RouteRules, decode, normalize, parse_prefixes, parse_templates, under_prefix
from route_counter.handler.rules.settings import ConfigError, Settings
from route_counter.infra import settings as stack
from local.events import build_event
from route_counter.handler.web import events


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a", "/a"),
        ("/a/", "/a"),
        ("a/b", "/a/b"),
        ("//a///b//", "/a/b"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/../../a", "/a"),
        ("/a/..", "/"),
        ("/.../a", "/.../a"),
        ("/Caf\u00e9/\u65e5\u672c", "/Caf\u00e9/\u65e5\u672c"),  # Unicode kept as is
        ("/A/B", "/A/B"),  # case kept: paths are case-sensitive
        ("/a b/c", "/a b/c"),
    ],
)
def test_normalize(path, expected):
    assert normalize(path) == expected
    assert normalize(expected) == expected


@pytest.mark.parametrize("path", ["/a\x00b", "/a\nb", "/\r", "/\x7f", "/a\x85", "/\ud800",
                                  # invisible and direction-changing: a route shown as another's
                                  "/admin\u202egpj.exe", "/a\u200bb", "/\ufeffx", "/a\u2028b", "/a\u2029b",
                                  "/x\u2066y", "/\u00ad"])
def test_normalize_rejects_control_characters(path):
    with pytest.raises(RouteError) as err:
        normalize(path)
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/a%20b", "/a b"),
        ("/caf%C3%A9", "/caf\u00e9"),
        ("/a%2Fb", "/a/b"),  # an encoded slash is a slash once decoded: documented
        ("/100%25", "/100%"),  # decoded once only: "%25" -> "%", never further
        ("/plain", "/plain"),
    ],
)
def test_decode_once(raw, expected):
    assert decode(raw) == expected


@pytest.mark.parametrize("raw", ["/%zz", "/%4", "/a%", "/%C3", "/%C0%AF", "/%ED%A0%80", "/%FF"])
def test_decode_rejects_malformed_or_overlong(raw):
    with pytest.raises(RouteError) as err:
        decode(raw)
    assert (err.value.status, err.value.code) == (400, "bad_encoding")


def test_percent_encoded_control_character_is_rejected():
    with pytest.raises(RouteError) as err:
        RouteRules().resolve("/a%00b")
    assert err.value.status == 400


def test_double_encoding_is_not_decoded_twice():
    assert RouteRules().resolve("/a%2541") == "/a%41"
    assert RouteRules().resolve("/a%41") == "/aA"


@pytest.mark.parametrize(
    ("max_bytes", "path", "ok"),
    [
        (4, "/abc", True),
        (4, "/abcd", False),
        (4, "/\u00e9\u00e9", False),  # 5 UTF-8 bytes
        (4, "//a//b/", True),  # measured after normalisation: "/a/b"
        (2048, "/" + "x" * 2047, True),
        (2048, "/" + "x" * 2048, False),
    ],
)
def test_size_limit_counts_utf8_bytes(max_bytes, path, ok):
    rules = RouteRules(max_bytes=max_bytes)
    if ok:
        assert rules.resolve(path)
    else:
        with pytest.raises(RouteError) as err:
            rules.resolve(path)
        assert err.value.status == 414


@pytest.mark.parametrize(
    ("prefixes", "route", "allowed"),
    [
        ("/api", "/api", True),
        ("/api", "/api/v1/x", True),
        ("/api", "/apix", False),
        ("/api", "/", False),
        ("/api,/docs/", "/docs/a", True),
        ("/", "/anything", True),
        ("", "/anything", True),
    ],
)
def test_allowed_prefixes(prefixes, route, allowed):
    rules = RouteRules(prefixes=parse_prefixes(prefixes))
    if allowed:
        assert rules.resolve(route) == route
    else:
        with pytest.raises(RouteError) as err:
            rules.resolve(route)
        assert err.value.status == 404


def test_under_prefix_is_segment_bounded():
    assert under_prefix("/a/b", "/a") and not under_prefix("/ab", "/a") and under_prefix("/x", "/")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/42", "/users/{id}"),
        ("/users/42/", "/users/{id}"),
        ("/users", "/users"),
        ("/users/42/posts", "/users/42/posts"),  # one {id} matches exactly one segment
        ("/orders/7/items", "/orders/{id}/items"),
        ("/orders/7/items/3", "/orders/7/items/3"),
    ],
)
def test_templates(path, expected):
    rules = RouteRules(templates=parse_templates("/users/{id},/orders/{id}/items"))
    assert rules.resolve(path) == expected


def test_equally_literal_templates_keep_list_order():
    assert RouteRules(templates=parse_templates("/users/{id},/{section}/me")).resolve("/users/me") == "/users/{id}"
    assert RouteRules(templates=parse_templates("/{section}/me,/users/{id}")).resolve("/users/me") == "/{section}/me"


def test_more_literal_template_wins_regardless_of_order():
    rules = RouteRules(templates=parse_templates("/{a}/{b},/users/{id}"))
    assert rules.resolve("/users/1") == "/users/{id}"
    assert rules.resolve("/other/1") == "/{a}/{b}"


@pytest.mark.parametrize("spec", ["users/{id}", "/users/{id", "/users/x{id}", "/users/me", "/a//{b}"])
def test_bad_templates_are_refused(spec):
    with pytest.raises(ValueError):
        parse_templates(spec)


@pytest.mark.parametrize("stage", ["prod", "v1", "dev"])
@pytest.mark.parametrize("base_path", ["", "/counter", "/api/v2"])
def test_route_is_independent_of_stage_and_custom_domain_base_path(stage, base_path):
    event, _ = build_event("GET", "/a/b?x=1", stage=stage)
    # A custom domain's base path and the stage only show up in requestContext.path.
    event["requestContext"]["path"] = f"{base_path}/{stage}/a/b"
    request = events.parse(event)
    assert RouteRules().resolve(request.raw_path()) == "/a/b"


def test_root_resource_is_the_root_route():
    event, _ = build_event("GET", "/")
    assert RouteRules().resolve(events.parse(event).raw_path()) == "/"


# The environment exactly as the Pulumi program builds it from Pulumi.yaml's defaults.
ENV = stack.parse({}).handler_environment("t")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing environment variable(s) TABLE_NAME, CORS_ORIGINS"),
        ({**ENV, "TABLE_NAME": " "}, "TABLE_NAME is required"),
        ({**ENV, "MAX_ROUTE_BYTES": "0"}, "MAX_ROUTE_BYTES must be an integer from 1 to 2048"),
        ({**ENV, "MAX_ROUTE_BYTES": "4096"}, "MAX_ROUTE_BYTES must be an integer from 1 to 2048"),
        ({**ENV, "MAX_ROUTE_BYTES": "ten"}, "MAX_ROUTE_BYTES must be an integer"),
        ({**ENV, "MAX_ROUTE_BYTES": "\u00b2"}, "MAX_ROUTE_BYTES must be an integer"),
        ({**ENV, "ALLOW_PREFIXES": "api"}, "ALLOW_PREFIXES: allowed prefix 'api' must start with '/'"),
        ({**ENV, "ROUTE_TEMPLATES": "/u/{id"}, "ROUTE_TEMPLATES:"),
        ({**ENV, "COUNTS_PATH": "a/b"}, "COUNTS_PATH must be one path segment"),
        ({**ENV, "WRITER": "boto3"}, "WRITER must be lean or botocore"),
        ({**ENV, "REDIRECTS": "/go=http://x.example"}, "REDIRECTS: target 'http://x.example' of /go must be an https:// URL"),
        ({**ENV, "DOWNLOADS": "/cv=cv.pdf"}, "DOWNLOAD_BUCKET is required with DOWNLOADS"),
    ],
)
def test_settings_fail_fast_with_a_clear_message(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_settings_from_the_environment_the_program_builds():
    s = Settings.from_env(ENV)
    assert s.cors_origins == ("*",) and s.rules == RouteRules(1024, (), (), ("/_counts",)) and s.counts_path == "_counts"
    assert s.writer == "lean"
    s = Settings.from_env({**ENV, "CORS_ORIGINS": "https://a.example, https://b.example"})
    assert s.cors_origins == ("https://a.example", "https://b.example")
