"""countsAccess apiKey or iam: every resource of the API document, in every access mode, sent in the shape
API Gateway sends it, serves only what the document leaves open to callers without credentials."""

from __future__ import annotations

import json

import pytest

from route_counter.handler import listing
from route_counter.handler.web import dashboard
from route_counter.handler.web.events import PROXY_PARAM, PROXY_PART
from route_counter.infra import openapi
from local.events import build_event, route_for

MODES = ("public", "apiKey", "iam")
SECRET = "/secret-route"
# Queries and Accept headers a caller without a key would try on an open resource.
PROBES = [("", ()), ("?top=1000", ()), (f"?route={SECRET}", ()), ("?format=json", ()), ("?format=html", ()),
          ("", (("Accept", "text/html"),)), ("?window=30d&series=1", ()), ("?prefix=/", ()),
          (f"?route={SECRET}&format=shields", ()), ("?cursor=x", ())]


def concrete(resource: str) -> str:
    """A request path that API Gateway matches to ``resource``."""
    return resource.replace(PROXY_PART, "usage") if resource.startswith("/_counts/") else resource.replace(PROXY_PART, "a/b")


def open_operations(mode: str):
    """(resource, method) of every listing operation the document serves without credentials."""
    for resource, methods in openapi.document("c", "l", "_counts", "*", mode)["paths"].items():
        for method, operation in methods.items():
            if operation["x-amazon-apigateway-integration"]["uri"] == "l" and "security" not in operation:
                yield resource, method


@pytest.mark.parametrize("mode", MODES)
def test_the_local_server_matches_every_resource_of_the_document(mode):
    guarded = mode != "public"
    paths = openapi.document("c", "l", "_counts", "*", mode)["paths"]
    for resource in paths:
        route = route_for(concrete(resource), "_counts", guarded)
        assert route.resource == resource
        assert (route.path_params is None) == (PROXY_PART not in resource)  # API Gateway sends null, not {}
        assert route.function == ("listing" if resource.startswith("/_counts") else "counter")
    assert {route_for(concrete(r), "_counts", guarded).resource for r in paths} == set(paths)


@pytest.mark.parametrize("mode", ["apiKey", "iam"])
def test_no_open_resource_of_a_guarded_stack_shows_a_count_list_or_record(mode, hits, reader, settings):
    hits({SECRET: 3, "/other": 1})
    served = set()
    for resource, method in open_operations(mode):
        if method not in ("get", openapi.ANY_METHOD):
            continue
        for query, headers in PROBES:
            event, _ = build_event("GET", concrete(resource) + query, headers, guarded=True)
            answer = listing.handle(event, None, settings, reader)
            body, kind = answer["body"], answer["headers"]["Content-Type"]
            assert SECRET not in body and "/other" not in body, (resource, query)
            if body != dashboard.page(dashboard.SHELL):  # the shell's own data is an empty list
                assert '"routes"' not in body and '"count"' not in body, (resource, query)
            if answer["statusCode"] == 200:
                served.add(resource)
                if resource.endswith("/dashboard"):
                    assert kind == dashboard.HTML_TYPE and body == dashboard.page(dashboard.SHELL)
                else:
                    assert kind == "image/svg+xml" or set(json.loads(body)) >= {"schemaVersion", "message"}
    assert served == {"/_counts/badge", "/_counts/dashboard"}


@pytest.mark.parametrize("mode", ["apiKey", "iam"])
def test_the_badge_renders_on_a_guarded_stack(mode, hits, reader, settings):
    hits({"/readme": 3})
    event, _ = build_event("GET", "/_counts/badge?route=/readme", guarded=True)
    assert event["resource"] == "/_counts/badge" and event["pathParameters"] is None
    answer = listing.handle(event, None, settings, reader)
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "image/svg+xml"
    assert ">3<" in answer["body"]


@pytest.mark.parametrize("mode", MODES)
def test_every_guarded_operation_is_the_listing_and_needs_credentials(mode):
    for resource, methods in openapi.document("c", "l", "_counts", "*", mode)["paths"].items():
        for method, operation in methods.items():
            public = method == "options" or resource in ("/_counts/badge", "/_counts/dashboard") or mode == "public"
            listing_resource = resource.startswith("/_counts")
            assert ("security" in operation) == (listing_resource and not public), (resource, method)
            assert openapi.needs_credentials("_counts", mode, resource, method) == ("security" in operation)


def test_the_proxy_path_of_the_listing_still_serves_the_badge_and_page(hits, reader, settings):
    """On a public stack (no badge resource of its own) the badge comes through ``/_counts/{proxy+}``."""
    hits({"/readme": 2})
    event, _ = build_event("GET", "/_counts/badge?route=/readme")
    assert event["resource"] == f"/_counts/{PROXY_PART}" and event["pathParameters"] == {PROXY_PARAM: "badge"}
    assert ">2<" in listing.handle(event, None, settings, reader)["body"]


def cache_control(mode: str, path: str, settings, reader, headers=()) -> tuple[int, str]:
    event, _ = build_event("GET", path, headers, guarded=mode != "public")
    answer = listing.handle(event, None, settings._replace(counts_access=mode), reader)
    return answer["statusCode"], answer["headers"]["Cache-Control"]


@pytest.mark.parametrize("mode", ["apiKey", "iam"])
@pytest.mark.parametrize("query,headers", [("?top=10", ()), ("?top=10&window=24h", ()), ("", (("Accept", "text/html"),)),
                                           ("?format=html", ()), ("?route=/secret-route", ()), ("?limit=5", ())])
def test_a_guarded_answer_is_never_cacheable_by_a_shared_cache(mode, query, headers, hits, reader, settings):
    """A CDN or proxy in front must not hand a key holder's answer to a caller without the key: every
    counted answer of a guarded listing (JSON and the page, top= included) is private or no-store."""
    hits({SECRET: 2})
    status, cache = cache_control(mode, "/_counts" + query, settings, reader, headers)
    assert status == 200 and (cache.startswith("private") or cache == "no-store"), cache
    assert "public" not in cache


def test_only_the_public_listing_and_the_badge_are_cacheable_by_anyone(hits, reader, settings):
    hits({SECRET: 2})
    assert cache_control("public", "/_counts?top=10", settings, reader) == (200, "public, max-age=60")
    for mode in MODES:
        status, cache = cache_control(mode, f"/_counts/badge?route={SECRET}", settings, reader)
        assert status == 200 and cache.startswith("public"), mode


@pytest.mark.parametrize("resource", [f"/{PROXY_PART}", "/", "/other/{proxy+}", "/_countsx"])
def test_the_listing_invoked_for_a_resource_not_its_own_answers_404(resource, hits, reader, settings):
    """Fail closed: a wrongly wired integration never serves the list (nor a badge) through another resource."""
    hits({SECRET: 2})
    event, _ = build_event("GET", "/_counts?top=5")
    event["resource"], event["pathParameters"] = resource, ({PROXY_PARAM: "_counts"} if "{" in resource else None)
    answer = listing.handle(event, None, settings, reader)
    assert (answer["statusCode"], json.loads(answer["body"])["error"]) == (404, "not_found")
    assert SECRET not in answer["body"]


@pytest.mark.parametrize("path,same_as", [("/_counts//", "/_counts"), ("/_counts///", "/_counts"),
                                          (f"/_counts/badge/?route={SECRET}", f"/_counts/badge?route={SECRET}"),
                                          (f"/_counts//badge//?route={SECRET}", f"/_counts/badge?route={SECRET}")])
def test_trailing_and_doubled_slashes_under_the_listing_answer_as_the_plain_path(path, same_as, hits, reader, settings):
    hits({SECRET: 4})
    answers = []
    for each in (path, same_as):
        event, _ = build_event("GET", each)
        answer = listing.handle(event, None, settings, reader)
        answers.append((answer["statusCode"], answer["headers"]["Content-Type"], answer["body"]))
    assert answers[0] == answers[1] and answers[0][0] == 200
