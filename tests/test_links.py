"""Counted downloads and redirects: config rules, the handler on moto, the stack under mocks, and the
local API over HTTP following the 302 to the file's exact bytes."""

from __future__ import annotations

import http.client
import json
from urllib.parse import parse_qs, urlsplit

import pulumi
import pytest

from route_counter.handler import counter
from route_counter.handler.store import downloads
from route_counter.handler.rules.links import parse_links
from route_counter.handler.rules.settings import Settings
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.conftest import stored
from tests.localapi import ROOT, LocalApi
from tests.stack import AUTONAME_SUFFIX, everything, run_program

RESUME = "tests/files/resume.pdf"


@pytest.fixture
def linked(settings, monkeypatch):
    """The counter's settings with a download and a redirect, as the program's environment gives them."""
    monkeypatch.setattr(downloads, "_s3", None)
    links = parse_links(f"/resume.pdf={RESUME}", "/go/github=https://github.com/you", settings.rules)
    return settings._replace(links=links, download_bucket="site-downloads")


def call(writer, settings, method, target):
    event, _ = build_event(method, target)
    response = counter.handle(event, None, settings, writer)
    return response, json.loads(response["body"]) if response["body"] else None


def test_a_download_counts_once_and_redirects_to_a_short_lived_link_for_that_object(writer, linked, table):
    response, body = call(writer, linked, "GET", "/resume.pdf?utm=x")
    assert response["statusCode"] == 302 and body == {"route": "/resume.pdf", "count": 1}
    url = urlsplit(response["headers"]["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.scheme == "https" and url.path == "/downloads/resume.pdf"
    assert url.hostname == "site-downloads.s3.amazonaws.com"  # exactly that bucket and key
    assert int(query["X-Amz-Expires"]) <= 60 and query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["response-content-disposition"] == 'attachment; filename="resume.pdf"'
    assert query["X-Amz-Security-Token"] == "testing"  # Lambda's session credentials travel in the link
    assert writer.writes == 1 and stored(writer.client, "/resume.pdf")["count"] == 1


def test_head_answers_the_same_headers_without_counting(writer, linked, table):
    response, _ = call(writer, linked, "HEAD", "/resume.pdf")
    assert response["statusCode"] == 302 and "/downloads/resume.pdf?" in response["headers"]["Location"]
    response, _ = call(writer, linked, "HEAD", "/go/github")
    assert response["statusCode"] == 302 and response["headers"]["Location"] == "https://github.com/you"
    assert writer.writes == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_a_link_are_405(writer, linked, method):
    response, body = call(writer, linked, method, "/resume.pdf")
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "GET, HEAD, OPTIONS"
    assert body["error"] == "method_not_allowed" and writer.writes == 0


@pytest.mark.parametrize("target", ["/go/github", "/go/github/", "/go//github?next=https://evil.example",
                                    "/go/github?Location=https://evil.example", "/go/./github"])
def test_a_redirect_counts_and_goes_only_to_its_configured_target(writer, linked, table, target):
    response, body = call(writer, linked, "GET", target)
    assert response["statusCode"] == 302 and response["headers"]["Location"] == "https://github.com/you"
    assert body["route"] == "/go/github" and writer.writes == 1


def test_ordinary_routes_never_create_the_s3_client(writer, linked, table):
    call(writer, linked, "GET", "/elsewhere")
    assert downloads._s3 is None  # presigning is lazy: counting pays nothing for it


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"redirects": "/go=http://example.com"}, "redirects: target 'http://example.com' of /go must be an https:// URL"),
        ({"redirects": "/go=javascript:alert(1)"}, "redirects: target"),
        ({"redirects": "/go=https://a.example,/go/=https://b.example"}, "redirects: route /go is listed twice"),
        ({"redirects": "/go"}, "redirects: '/go' is not ROUTE=URL"),
        ({"downloads": f"/cv={RESUME},/cv/={RESUME}"}, "downloads: route /cv is listed twice"),
        ({"downloads": "/cv=assets/nope.pdf"}, "downloads: /cv=assets/nope.pdf: no such file"),
        ({"downloads": f"/x={RESUME}", "redirects": "/x=https://a.example"}, "a route can't be both"),
        ({"downloads": f"/_counts/cv={RESUME}"}, "downloads: route '/_counts/cv'"),
        ({"redirects": "/_counts=https://a.example"}, "redirects: route '/_counts'"),
        ({"downloads": f"cv={RESUME}"}, "downloads: route 'cv' must start with '/'"),
        ({"downloads": f"/users/7={RESUME}", "routeTemplates": "/users/{id}"}, "counted as /users/{id}"),
    ],
)
def test_bad_link_config_is_refused_naming_the_key(config, message, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SettingsError) as err:
        parse(config)
    assert message in str(err.value)


def test_links_reach_the_handlers_environment(monkeypatch):
    monkeypatch.chdir(ROOT)
    stack = parse({"downloads": f"/cv.pdf={RESUME}", "redirects": "/go/gh=https://github.com/you"})
    handler = Settings.from_env(stack.handler_environment("t", "bucket-1"))
    assert handler.links.downloads["/cv.pdf"].key == "downloads/cv.pdf" and handler.download_bucket == "bucket-1"
    assert handler.links.redirects == {"/go/gh": "https://github.com/you"}


def resources_by_type(recorder, typ):
    return [r for r in recorder.resources.values() if r.type == typ]


@pulumi.runtime.test
def test_the_stack_creates_a_private_bucket_and_grants_exactly_those_objects(monkeypatch):
    monkeypatch.chdir(ROOT)
    recorder, program = run_program(downloads=f"/resume.pdf={RESUME}")

    def assertions(_):
        bucket = f"route-counter-downloads-{AUTONAME_SUFFIX}"
        [block] = resources_by_type(recorder, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                      "restrictPublicBuckets"))
        [owner] = resources_by_type(recorder, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        assert owner.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        [versioning] = resources_by_type(recorder, "aws:s3/bucketVersioning:BucketVersioning")
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
        [encryption] = resources_by_type(recorder, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        [policy] = resources_by_type(recorder, "aws:s3/bucketPolicy:BucketPolicy")
        [deny] = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        [obj] = resources_by_type(recorder, "aws:s3/bucketObjectv2:BucketObjectv2")
        assert obj.inputs["key"] == "downloads/resume.pdf" and obj.inputs["contentType"] == "application/pdf"
        assert obj.inputs["source"].path == RESUME
        counter_policy = json.loads(recorder.resources["route-counter-counter-policy"].inputs["policy"])
        s3 = [s for s in counter_policy["Statement"] if any(a.startswith("s3:") for a in s["Action"])]
        assert s3 == [{"Sid": "Downloads", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": [f"arn:aws:s3:::{bucket}/downloads/resume.pdf"]}]
        listing_policy = recorder.resources["route-counter-listing-policy"].inputs["policy"]
        assert "s3:" not in listing_policy
        variables = recorder.resources["route-counter-counter"].inputs["environment"]["variables"]
        assert variables["DOWNLOAD_BUCKET"] == bucket and variables["DOWNLOADS"] == f"/resume.pdf={RESUME}"

    return everything(program["route_counter"]).apply(assertions)


@pulumi.runtime.test
def test_without_downloads_there_is_no_bucket_and_no_s3_grant():
    recorder, program = run_program(redirects="/go=https://github.com/you")

    def assertions(_):
        assert not [r for r in recorder.resources.values() if r.type.startswith("aws:s3/")]
        for name in ("route-counter-counter-policy", "route-counter-listing-policy"):
            assert "s3:" not in recorder.resources[name].inputs["policy"]

    return everything(program["route_counter"]).apply(assertions)


def follow(api, target):
    """GET like `curl -L`: the counted 302, then its Location (on another port: the local S3 stand-in)."""
    status, headers, body = api.request("GET", target)
    assert status == 302, (status, body)
    url = urlsplit(headers["location"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", f"{url.path}?{url.query}")
    response = conn.getresponse()
    return body, response.status, dict(response.getheaders()), response.read()


@pytest.mark.e2e
def test_local_api_download_yields_the_exact_bytes_through_a_counted_302():
    args = ["--quiet", "--downloads", f"/resume.pdf={RESUME}", "--redirects", "/go/gh=https://github.com/you"]
    with LocalApi(*args) as api:
        body, status, headers, data = follow(api, "/resume.pdf")
        assert body == {"route": "/resume.pdf", "count": 1} and status == 200
        assert data == (ROOT / RESUME).read_bytes() and headers["Content-Type"] == "application/pdf"
        assert headers["Content-Disposition"] == 'attachment; filename="resume.pdf"'
        assert api.request("HEAD", "/resume.pdf")[0] == 302  # not counted
        status, headers, _ = api.request("GET", "/go/gh")
        assert status == 302 and headers["location"] == "https://github.com/you"
        routes = {r["route"]: r["count"] for r in api.request("GET", "/_counts")[2]["routes"]}
        assert routes == {"/resume.pdf": 1, "/go/gh": 1}


def test_the_listing_and_dashboard_mark_links(writer, reader, linked, table):
    from route_counter.handler import listing

    call(writer, linked, "GET", "/resume.pdf")
    call(writer, linked, "GET", "/go/github")
    call(writer, linked, "GET", "/plain")
    event, _ = build_event("GET", "/_counts")
    routes = json.loads(listing.handle(event, None, linked, reader)["body"])["routes"]
    assert {r["route"]: r.get("link") for r in routes} == {"/resume.pdf": "download", "/go/github": "redirect", "/plain": None}
    event, _ = build_event("GET", "/_counts?route=/resume.pdf")
    assert json.loads(listing.handle(event, None, linked, reader)["body"])["link"] == "download"
    event, _ = build_event("GET", "/_counts?format=html")
    page = listing.handle(event, None, linked, reader)["body"]
    assert '"link":"download"' in page and "m.className='link'" in page


@pytest.mark.parametrize("url", ['https://a.example/x y', 'https://a.example/"q"', "https://a.example/'><x",
                                 "https://a.example/\x01", "https://a.example/\x7f", "https://a.example/<b>",
                                 "https://a.example/a\\b", "https://a.example/\u00a0x"])
def test_a_redirect_target_a_browser_would_mangle_or_that_breaks_out_of_a_header_is_refused(url):
    from route_counter.handler.rules.links import parse_redirects
    from route_counter.handler.rules.routes import RouteRules

    with pytest.raises(ValueError, match="must be an https:// URL"):
        parse_redirects(f"/go={url}", RouteRules(1024, (), (), ()))
