"""The local event builder produces what API Gateway REST (payload 1.0) sends, checked against AWS samples."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from route_counter.handler.web import events
from local.events import COUNTER, LISTING, build_event, route_for

SAMPLES = Path(__file__).parent / "events"


def shape(value):
    """Keys and value types, recursively: what two events must share."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize(
    ("sample", "method", "target"),
    [
        ("rest_proxy_get.json", "GET", "/path/to/resource?utm_source=mail"),
        ("rest_root_get.json", "GET", "/"),
        ("rest_listing_get.json", "GET", "/_counts?limit=2"),
    ],
)
def test_built_event_has_the_documented_shape(sample, method, target):
    aws = json.loads((SAMPLES / sample).read_text())
    built, _ = build_event(method, target, [("Accept", "application/json"), ("User-Agent", "curl/8.5.0")])
    assert set(built) == set(aws)
    assert set(built["requestContext"]) == set(aws["requestContext"])
    for key in ("resource", "pathParameters", "queryStringParameters", "multiValueQueryStringParameters", "httpMethod"):
        assert built[key] == aws[key], key
    assert shape(built["requestContext"]["identity"]) == shape(aws["requestContext"]["identity"])


@pytest.mark.parametrize(
    ("path", "resource", "params", "function"),
    [
        ("/", "/", None, COUNTER),
        ("/a", "/{proxy+}", {"proxy": "a"}, COUNTER),
        ("/a/b/", "/{proxy+}", {"proxy": "a/b/"}, COUNTER),
        ("/a%20b", "/{proxy+}", {"proxy": "a%20b"}, COUNTER),  # stays encoded, as on AWS
        ("/_counts", "/_counts", None, LISTING),
        ("/_counts/", "/_counts", None, LISTING),
        ("/_counts/badge", "/_counts/{proxy+}", {"proxy": "badge"}, LISTING),
        ("/_countsx", "/{proxy+}", {"proxy": "_countsx"}, COUNTER),
    ],
)
def test_paths_map_to_the_api_resource_tree(path, resource, params, function):
    route = route_for(path, "_counts")
    assert (route.resource, route.path_params, route.function) == (resource, params, function)


def test_custom_counts_path():
    assert route_for("/stats", "stats").function == LISTING
    assert route_for("/_counts", "stats").function == COUNTER


def test_headers_and_query_keep_last_and_all_values():
    event, _ = build_event("GET", "/x?a=1&a=2&b=%20c", [("X-Tag", "one"), ("X-Tag", "two")])
    assert event["queryStringParameters"] == {"a": "2", "b": " c"}  # query values arrive decoded
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [" c"]}
    assert event["headers"] == {"X-Tag": "two"} and event["multiValueHeaders"] == {"X-Tag": ["one", "two"]}


def test_binary_body_is_base64():
    event, _ = build_event("POST", "/x", body=b"\xff\x00\x01")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00\x01"
    event, _ = build_event("POST", "/x", body=b'{"a":1}')
    assert (event["isBase64Encoded"], event["body"]) == (False, '{"a":1}')


def test_stage_is_only_in_the_request_context():
    event, _ = build_event("GET", "/a", stage="prod")
    assert event["path"] == "/a" and event["requestContext"]["path"] == "/prod/a"
    assert events.parse(event).raw_path() == "/a"
