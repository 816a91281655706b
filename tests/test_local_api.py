"""The local API over real HTTP: the same handlers, the same event shape, exact counts under concurrency."""

from __future__ import annotations

import errno
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest

from tests.conftest import CI
from tests.localapi import ROOT, LocalApi, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api():
    with LocalApi("--quiet") as server:
        yield server


def count_of(api, route):
    status, _, body = api.request("GET", "/_counts?route=" + quote(route, safe=""))
    return body["count"] if status == 200 else 0


@pytest.mark.parametrize(
    ("target", "route"),
    [
        ("/", "/"),
        ("/e2e/nested/path", "/e2e/nested/path"),
        ("/e2e/trailing/", "/e2e/trailing"),
        ("/e2e/query?utm=1&x=y", "/e2e/query"),
        ("/e2e/%7Euser%20name", "/e2e/~user name"),
        ("/e2e/" + quote("caf\u00e9-\u65e5\u672c"), "/e2e/caf\u00e9-\u65e5\u672c"),
    ],
)
def test_paths_are_counted_under_their_route(api, target, route):
    before = count_of(api, route)
    status, headers, body = api.request("GET", target)
    assert status == 200 and body == {"route": route, "count": before + 1}
    assert headers["access-control-allow-origin"] == "*"
    assert count_of(api, route) == before + 1


def test_head_is_counted_and_has_no_body(api):
    status, headers, body = api.request("HEAD", "/e2e/head")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert count_of(api, "/e2e/head") == 1


def test_preflight_is_not_counted(api):
    status, headers, _ = api.request("OPTIONS", "/e2e/pre", {"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
    assert status == 204 and "POST" in headers["access-control-allow-methods"]
    assert count_of(api, "/e2e/pre") == 0


def test_oversize_path_is_414_and_not_counted(api):
    status, _, body = api.request("GET", "/e2e/" + "x" * 1100)
    assert status == 414 and body["error"] == "route_too_long"


def test_listing_rejects_writes_with_405(api):
    status, headers, body = api.request("POST", "/_counts", body=b"{}")
    assert status == 405 and headers["allow"] == "GET, HEAD, OPTIONS" and body["error"] == "method_not_allowed"
    status, _, _ = api.request("DELETE", "/_counts/anything")
    assert status == 405


def test_listing_pages_and_top(api):
    for i in range(12):
        for _ in range(i + 1):
            api.request("GET", f"/page/r{i}")
    seen, cursor = [], None
    while True:
        status, _, body = api.request("GET", "/_counts?prefix=/page&limit=5" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        seen += [(r["route"], r["count"]) for r in body["routes"]]
        cursor = body["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted((f"/page/r{i}", i + 1) for i in range(12))
    _, _, body = api.request("GET", "/_counts?prefix=/page&top=3")
    assert [r["route"] for r in body["routes"]] == ["/page/r11", "/page/r10", "/page/r9"]
    assert body["truncated"] is False


PER_THREAD = 250 if CI else 60  # each hit is a full update on the embedded store (~7 ms, serialised)


def hammer(api, routes, threads=8, per_thread=PER_THREAD):
    """Each thread sends per_thread hits over one keep-alive connection, cycling through routes."""
    errors: list[str] = []

    def client(n: int) -> None:
        conn = api.connection()
        try:
            for i in range(per_thread):
                status, _, _ = api.request("GET", routes[(n + i) % len(routes)], conn=conn)
                if status != 200:
                    errors.append(str(status))
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


def expected_counts(routes, threads=8, per_thread=PER_THREAD):
    counts = dict.fromkeys(routes, 0)
    for n in range(threads):
        for i in range(per_thread):
            counts[routes[(n + i) % len(routes)]] += 1
    return counts


@pytest.mark.parametrize("routes", [["/conc1/hot"], [f"/conc5/{i}" for i in range(5)]], ids=["one-route", "five-routes"])
def test_concurrent_hits_are_counted_exactly(api, routes):
    errors = hammer(api, routes)
    assert errors == []
    prefix = routes[0].rsplit("/", 1)[0]  # the module's server: exact totals under a prefix of this test's own
    _, _, body = api.request("GET", f"/_counts?prefix={prefix}&limit=1000")
    assert {r["route"]: r["count"] for r in body["routes"]} == expected_counts(routes)
    assert sum(r["count"] for r in body["routes"]) == 8 * PER_THREAD


def test_sigterm_exits_zero():
    api = LocalApi("--quiet").__enter__()
    assert api.request("GET", "/x")[0] == 200
    assert api.stop() == 0


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "local", "--port", str(port)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_a_clear_error():
    result = subprocess.run([sys.executable, "-m", "local", "--max-route-bytes", "9999"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "maxRouteBytes must be an integer from 1 to 2048" in result.stderr


def raw_exchange(api, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection, half-close, and read everything the server sends back."""
    with socket.create_connection((api.host, api.port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:  # the server answered and closed before reading it all (a 70 KB line): allowed
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # the server closed with input unread (say, a 70 KB line): a close
            pass
    return b"".join(chunks)


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n",
    b"GET /mal/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /mal/%C0%AF HTTP/1.1\r\n\r\n",
    b"GET /mal/%E0%80%AF HTTP/1.1\r\n\r\n",
    b"GET /mal/a%00b HTTP/1.1\r\n\r\n",
    b"GET /mal/a%0D%0Ab HTTP/1.1\r\n\r\n",
    b"GET /mal/\xff\xfe HTTP/1.1\r\n\r\n",
    b"GET /mal/" + b"x" * 3000 + b" HTTP/1.1\r\n\r\n",
    b"POST /mal/cl HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /mal/cl HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /mal/cl HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    b"POST /mal/te HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"PROPFIND /mal/dav HTTP/1.1\r\n\r\n",
    b"GET /_counts?limit=-5 HTTP/1.1\r\n\r\n",
    b"GET /_counts?cursor=%%%% HTTP/1.1\r\n\r\n",
    b"DELETE /_counts HTTP/1.1\r\n\r\n",
]


def test_malformed_raw_requests_get_4xx_or_a_close_and_the_server_keeps_serving(report):
    with LocalApi("--quiet") as api:
        statuses: dict[int, int] = {}
        for i in range(300):
            data = MALFORMED[i % len(MALFORMED)]
            if i >= len(MALFORMED) * 8:  # then a tail of random junk request lines
                data = bytes((i * 7919 + k * 104729) % 256 for k in range(40 + i % 60)) + b"\r\n\r\n"
            answer = raw_exchange(api, data)
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0
            statuses[status] = statuses.get(status, 0) + 1
            assert (status == 0 and answer == b"") or 400 <= status < 500 or status == 200, (data[:80], answer[:200])
            if status:
                head, _, payload = answer.partition(b"\r\n\r\n")
                if b"content-type: application/json" in head.lower():  # the handlers' answers: JSON errors
                    assert status == 200 or "error" in json.loads(payload), answer[:300]
                else:  # waitress's own answer to what it cannot parse: plain text, always a 4xx
                    assert b"content-type: text/plain" in head.lower() and 400 <= status < 500, answer[:300]
                    report.count("raw malformed HTTP requests: answered by the HTTP layer (plain text)")
            assert b"Traceback" not in answer
        ok = statuses.get(200, 0)
        # Still serving, and the only increments are the requests it answered 200.
        status, _, body = api.request("GET", "/after/malformed")
        assert status == 200 and body["count"] == 1
        _, _, listed = api.request("GET", "/_counts?limit=1000")
        assert sum(r["count"] for r in listed["routes"]) == ok + 1
        report.count("raw malformed HTTP requests to the local API", 300)
        report.set("raw malformed HTTP requests: answers by status (0 = closed)", dict(sorted(statuses.items())))


def test_ipv6_loopback_serves_and_keeps_the_admin_pass_through():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 here")
    with LocalApi("--quiet", "--host", "::1") as api:
        assert api.base.startswith("http://[::1]:")
        conn = http.client.HTTPConnection("::1", api.port, timeout=10)
        conn.request("GET", "/v6")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["count"] == 1
        assert any("manage:" in line for line in api.read_banner())  # ::1 is loopback: admin stays on


def test_stalled_clients_hold_no_worker_and_http10_keep_alive_completes(api):
    """A client that announces 10 MB and sends nothing, many times over, does not stop anyone else; an
    HTTP/1.0 keep-alive client (ApacheBench -k) gets its answers on one connection, each closed by length."""
    stalled = []
    for _ in range(12):  # more than the server's 8 worker threads
        sock = socket.create_connection((api.host, api.port), timeout=10)
        sock.sendall(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\npartial")
        stalled.append(sock)
    try:
        assert api.request("GET", "/not-blocked")[0] == 200
        with socket.create_connection((api.host, api.port), timeout=10) as sock:
            for i in range(3):
                sock.sendall("GET /keepalive HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: x\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(1)
                headers = {k.lower(): v for k, v in (l.split(": ", 1) for l in head.decode().split("\r\n")[1:] if ": " in l)}
                assert headers["connection"].lower() == "keep-alive", head  # says so, for a 1.0 client
                body = b""
                while len(body) < int(headers["content-length"]):
                    body += sock.recv(4096)
                assert json.loads(body)["count"] == i + 1
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.skipif(not shutil.which("ab"), reason="needs ApacheBench: apt-get install apache2-utils")
def test_apachebench_keep_alive_completes_and_counts_exactly(api):
    # -l: the body's length varies (the count grows a digit), which ab would otherwise call a failure.
    result = subprocess.run(["ab", "-k", "-l", "-n", "400", "-c", "4", "-s", "20", f"{api.base}/ab"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r"Complete requests:\s+400", result.stdout) and re.search(r"Failed requests:\s+0", result.stdout)
    assert re.search(r"Keep-Alive requests:\s+[1-9]", result.stdout), result.stdout  # the connections were reused
    assert api.request("GET", "/_counts?route=/ab")[2]["count"] == 400


@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk: apt-get install wrk")
def test_wrk_completes_with_no_errors(api):
    result = subprocess.run(["wrk", "-t", "2", "-c", "8", "-d", "2s", "--timeout", "10s", f"{api.base}/wrk"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    done = int(re.search(r"(\d+) requests in", result.stdout).group(1))
    assert "Socket errors" not in result.stdout and "Non-2xx" not in result.stdout, result.stdout
    counted = api.request("GET", "/_counts?route=/wrk")[2]["count"]
    assert done <= counted <= done + 8  # wrk stops with at most one request in flight per connection


@pytest.mark.parametrize("body", [b'{"Key": 5}', b"[]", b"not json", b'{"TableName": 5}', b'{"TableName": "route-counts-local", "Key": {"route": 5}}'])
def test_a_malformed_admin_call_is_a_400_json_answer(api, body):
    status, headers, answer = api.request(
        "POST", "/", {**api.proof(), "X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"}, body)
    assert status == 400 and json.loads(answer)["__type"].endswith("ValidationException"), answer
    assert api.request("GET", "/still-up")[0] == 200


def test_rate_limits_countries_and_series_over_http():
    """`make dev ARGS='--rate-limits /login=2/1h --count-countries'`: the same rules as a deployed EDGE stack."""
    with LocalApi("--quiet", "--rate-limits", "/login/*=2/1h", "--count-countries") as api:
        for route in ("/login/a", "/login/b"):  # the server's clock is real: if an hour turns meanwhile, again
            answers = [api.request("GET", route, {"CloudFront-Viewer-Country": "DE"}) for _ in range(3)]
            if int(answers[0][1]["ratelimit"].rpartition("t=")[2]) > 5:
                break
        assert [status for status, _, _ in answers] == [200, 200, 429]
        status, headers, body = answers[2]
        assert body["error"] == "rate_limited" and 1 <= int(headers["retry-after"]) <= 3600
        assert headers["ratelimit-policy"] == '"route";q=2;w=3600' and headers["ratelimit"].startswith('"route";r=0;t=')
        assert answers[0][1]["ratelimit"].startswith('"route";r=1;')
        status, _, record = api.request("GET", "/_counts?route=" + route)
        assert record["count"] == 2 and record["countries"] == {"DE": 2}
        assert sum(record["hourly"].values()) == 2 and sum(record["daily"].values()) == 2
        status, _, body = api.request("GET", "/_counts?window=1h&top=5")
        assert (route, 2) in [(r["route"], r["windowCount"]) for r in body["routes"]]
    with LocalApi("--quiet") as api:  # without --count-countries (REGIONAL) the header is ignored
        api.request("GET", "/x", {"CloudFront-Viewer-Country": "DE"})
        assert "countries" not in api.request("GET", "/_counts?route=/x")[2]


def test_local_api_md_s_rate_limit_example_gives_plain_curl_its_429_and_bots_none():
    """docs/local-api.md's example as written: its flags, curl's own User-Agent, its loop of six."""
    import re
    import shlex

    text = (ROOT / "docs" / "local-api.md").read_text().split("For example, a rate limit:", 1)[1]
    make, loop = [line.strip() for line in re.search(r"\n\n((?:    .+\n)+)", text)[1].splitlines()]
    flags = shlex.split(re.fullmatch(r'make dev ARGS="([^"]+)"', make)[1])
    tries, path = len(re.search(r"for i in ([\d ]+);", loop)[1].split()), re.search(r"curl -s (\S+);", loop)[1]
    curl = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
    with LocalApi("--quiet", *flags) as api:
        answers: list[tuple[int, int]] = []  # (status, seconds to the window's end): the clock is real, so a
        while not answers or answers[-1][0] != 429:  # window may turn mid-loop; judge the window the 429 is in
            assert len(answers) < 2 * tries
            status, headers, _ = api.request("GET", path.removeprefix("localhost:8080"), curl)
            answers.append((status, int(re.search(r"t=(\d+)", headers.get("ratelimit", "t=0"))[1])))
        # Within a window the seconds left only fall; a rise is a new window, so the 429's window starts there.
        start = max([i for i in range(1, len(answers)) if answers[i][1] > answers[i - 1][1]], default=0)
        assert [s for s, _ in answers[start:]] == [200] * (tries - 1) + [429], answers
    with LocalApi("--quiet", *flags, "--count-bots") as api:  # curl is on the crawler list: never filled
        assert {api.request("GET", path.removeprefix("localhost:8080"), curl)[0] for _ in range(tries)} == {200}


def test_bad_rate_limits_flag_is_a_clear_error():
    result = subprocess.run([sys.executable, "-m", "local", "--rate-limits", "/login=5"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "rateLimits" in result.stderr and "Traceback" not in result.stderr


UNROUTABLE = [
    b"GET http://evil.example/x HTTP/1.1",  # absolute-form
    b"OPTIONS * HTTP/1.1",  # asterisk-form
    b"GET x/y HTTP/1.1",  # no leading slash
    b"GET /frag#x HTTP/1.1",  # a fragment is never sent
    b"GET / HTTP/9.9",  # a version API Gateway does not speak
    b"GET / HTTP/2.0",
    b"GET /old",  # HTTP/0.9
]


def test_request_targets_api_gateway_would_never_route_are_400_and_not_counted(api):
    _, _, before = api.request("GET", "/_counts?limit=1000")  # the module's server: what other tests counted
    for request_line in UNROUTABLE:
        answer = raw_exchange(api, request_line + (b"\r\nHost: x\r\n\r\n" if b" HTTP/" in request_line else b"\r\n\r\n"))
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0
        assert 400 <= status < 500 or (status == 0 and answer == b""), (request_line, answer[:200])
        if b"application/json" in answer.split(b"\r\n\r\n")[0].lower():
            assert status == 400 and json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "bad_request_target"
    _, _, listed = api.request("GET", "/_counts?limit=1000")
    assert listed["routes"] == before["routes"]  # nothing counted, under any name


def test_quiet_means_no_request_and_no_metrics_lines_but_errors_still_show():
    with LocalApi("--quiet") as api:
        for _ in range(3):
            assert api.request("GET", "/q")[0] == 200
        assert api.request("GET", "/_counts?route=/q")[2]["count"] == 3  # every hit answered and written
        api.stop()
    assert not any("metrics" in line or "_aws" in line for line in api.stderr), api.stderr[:3]
    with LocalApi() as loud:
        assert loud.request("GET", "/q")[0] == 200
        assert wait_for(lambda: any("_aws" in line for line in loud.stderr))  # not quiet: the EMF line is there


def test_every_answer_says_nosniff_and_the_listing_varies_by_accept(api):
    for method, target, headers in [("GET", "/n", {}), ("OPTIONS", "/n", {"Origin": "https://a.example"}),
                                    ("GET", "/_counts?top=5", {}), ("GET", "/_counts", {"Accept": "text/html"}),
                                    ("GET", "/_counts/badge?route=/n", {}), ("GET", "/%zz", {})]:
        status, out, _ = api.request(method, target, headers)
        assert out.get("x-content-type-options") == "nosniff", (target, status, out)
    _, top, _ = api.request("GET", "/_counts?top=5")
    assert top["cache-control"].startswith("public") and "Accept" in top["vary"]
    for target in ("/n?format=svg", "/_counts/badge?route=/n"):  # a badge opened as a page runs nothing
        _, svg, _ = api.request("GET", target)
        assert svg["content-type"] == "image/svg+xml" and svg["content-security-policy"] == "default-src 'none'; sandbox"


def test_an_unreachable_dynamodb_endpoint_is_one_line_and_exit_2():
    for endpoint in ("http://127.0.0.1:1", "notaurl"):
        result = subprocess.run([sys.executable, "-m", "local", "--port", "0", "--dynamodb-endpoint", endpoint],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


def test_the_admin_pass_through_answers_datetimes_and_binary_values_as_dynamodb_does(api):
    status, _, body = api.request("POST", "/", {**api.proof(), "X-Amz-Target": "DynamoDB_20120810.DescribeTable"},
                                  b'{"TableName": "route-counts-local"}')
    assert status == 200 and isinstance(json.loads(body)["Table"]["CreationDateTime"], float)
    item = b'{"TableName": "route-counts-local", "Item": {"route": {"S": "/bin"}, "blob": {"B": "AAEC"}}}'
    assert api.request("POST", "/", {**api.proof(), "X-Amz-Target": "DynamoDB_20120810.PutItem"}, item)[0] == 200
    status, _, body = api.request("POST", "/", {**api.proof(), "X-Amz-Target": "DynamoDB_20120810.GetItem"},
                                  b'{"TableName": "route-counts-local", "Key": {"route": {"S": "/bin"}}}')
    assert status == 200 and json.loads(body)["Item"]["blob"] == {"B": "AAEC"}


def test_the_local_api_key_refusal_carries_a_request_id():
    with LocalApi("--quiet", "--counts-api-key", "k" * 24) as api:
        status, _, body = api.request("GET", "/_counts")
        assert status == 403 and body["error"] == "INVALID_API_KEY" and len(body["requestId"]) == 36


def test_usage_is_guarded_like_the_listing_and_the_badge_stays_open():
    """countsAccess apiKey: /_counts/usage (who used the API, for billing) wants the key; the badge does not."""
    key = "k" * 24
    with LocalApi("--quiet", "--counts-api-key", key) as api:
        status, _, body = api.request("GET", "/_counts/usage?month=2026-11")
        assert status == 403 and body["error"] == "INVALID_API_KEY"
        status, _, body = api.request("GET", "/_counts/usage?month=2026-11", {"x-api-key": key})
        assert status == 200 and (body["month"], body["consumers"], body["truncated"]) == ("2026-11", [], False)
        assert body["finalAt"] == "2026-12-02T06:00:00.000Z"
        assert api.request("GET", "/_counts/badge?route=/x")[0] == 200
    with LocalApi("--quiet") as api:  # a public listing never serves usage per API key
        status, _, body = api.request("GET", "/_counts/usage?month=2026-11")
        assert status == 403 and body["error"] == "usage_not_public"


def test_on_an_api_key_stack_the_listing_s_preflight_needs_no_key():
    """A browser's CORS preflight never carries x-api-key: API Gateway (and our OpenAPI document) leave
    OPTIONS open on /_counts and /_counts/{proxy+}, and the local server must too, or no page can send the key."""
    preflight = {"Origin": "https://a.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "x-api-key"}
    with LocalApi("--quiet", "--counts-api-key", "k" * 24) as api:
        for path in ("/_counts", "/_counts/usage", "/_counts/anything/below"):
            status, headers, _ = api.request("OPTIONS", path, preflight)
            assert status == 204 and "access-control-allow-methods" in headers, path
        assert api.request("GET", "/_counts")[0] == 403  # the read itself still wants the key


def test_a_token_folder_that_cannot_be_written_still_serves_hits(tmp_path):
    """No writable place for the admin token: the API serves hits and says why the CLI will be refused."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder would be")
    with LocalApi("--quiet", env={"XDG_RUNTIME_DIR": str(blocked)}) as api:
        assert api.request("GET", "/still")[2] == {"route": "/still", "count": 1}
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}")
        assert status == 400 and b"AccessDenied" in body
    assert any("cannot write" in line and "XDG_RUNTIME_DIR" in line for line in api.stderr)
