"""The admin CLI (`python -m counts`): on moto in-process, and against the local API over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from route_counter.cli.cli import main, parser, run
from local.events import build_event
from tests.conftest import TABLE, stored
from tests.localapi import ROOT, LocalApi


@pytest.fixture
def seeded(writer, hits):
    hits({"/a": 3, "/b/c": 2, "/d": 1})
    return writer


def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = run(parser().parse_args(["--table", TABLE, *argv]), out, io.StringIO(stdin))
    return code, out.getvalue()


# As if installed without the `cli` extra: boto3 and botocore cannot be imported.
WITHOUT_BOTO = "import sys; sys.modules['boto3'] = sys.modules['botocore'] = None; from route_counter.cli.entry import main; "


def test_without_boto3_the_cli_says_how_to_install_it_in_one_line():
    result = subprocess.run([sys.executable, "-c", WITHOUT_BOTO + "sys.exit(main('route-counter', ['list']))"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error: the admin CLI needs boto3: pip install 'route-counter[cli]'\n"


@pytest.mark.parametrize("module", ["counts", "route_counter.cli"])
def test_usage_names_the_command_it_was_started_as(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: python -m {module} ")


def test_the_installed_command_s_help_names_itself_and_needs_no_checkout():
    result = subprocess.run([sys.executable, "-c", "from route_counter.cli.entry import script; import sys; "
                             "sys.argv = ['route-counter', '--help']; sys.exit(script())"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: route-counter ")
    assert "route-counter: see and manage the counts" in result.stdout
    assert "python -m" not in result.stdout and "make dev" not in result.stdout


def test_list_get_top(seeded):
    code, text = cli("list")
    assert code == 0
    assert [line.split()[-1] for line in text.splitlines()[1:]] == ["/a", "/b/c", "/d"]
    assert [line.split()[0] for line in text.splitlines()[1:]] == ["3", "2", "1"]
    code, text = cli("get", "/b/c/")
    assert code == 0 and json.loads(text)["count"] == 2 and json.loads(text)["methods"] == {"GET": 2}
    code, text = cli("top", "1")
    assert code == 0 and text.splitlines()[1].split()[-1] == "/a"
    assert cli("get", "/never")[0] == 3  # not hit: 3, apart from AWS errors (1) and user errors (2)


def test_reset_asks_first_and_needs_yes_without_a_terminal(seeded, capsys):
    assert main(["--table", TABLE, "reset", "/a"]) == 2  # stdin is not a terminal: refused, nothing written
    assert "pass --yes" in capsys.readouterr().err
    assert stored(seeded.client, "/a")["count"] == 3
    first_seen = stored(seeded.client, "/a")["firstSeen"]
    code, text = cli("reset", "/a", "--yes")
    assert code == 0 and text == "reset /a: 3 hits set back to zero (first seen kept)\n"
    after = stored(seeded.client, "/a")
    assert after["count"] == 0 and after["methods"] == {"GET": 0} and after["firstSeen"] == first_seen


def test_reset_keeps_hits_that_land_between_showing_and_resetting(seeded, hits, monkeypatch):
    """The reset subtracts what it showed, atomically: a hit arriving meanwhile is not lost."""
    from route_counter.cli import cli as cli_module
    from route_counter.handler.store import queries

    shown = queries.route_items

    def shown_then_hit(client, table, route, regions=("",)):
        items = shown(client, table, route, regions)
        hits({route: 1})  # lands after the count was shown, before the reset
        return items

    monkeypatch.setattr(queries, "route_items", shown_then_hit)
    code, text = cli("reset", "/a", "--yes")
    assert cli_module.queries.route_items is shown_then_hit
    monkeypatch.undo()  # stored() reads through route_items too
    assert code == 0 and "; 1 hit arrived since it was shown and is kept" in text
    assert stored(seeded.client, "/a")["count"] == 1 and stored(seeded.client, "/a")["methods"] == {"GET": 1}


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_round_trips(seeded, tmp_path, fmt):
    code, exported = cli("export", "--format", fmt)
    assert code == 0
    path = tmp_path / f"counts.{fmt}"
    path.write_text(exported)
    before = {r: stored(seeded.client, r) for r in ("/a", "/b/c", "/d")}
    for route in before:
        seeded.client.delete_item(TableName=TABLE, Key={"route": {"S": route}})
    code, text = cli("import", str(path), "--yes")
    assert code == 0 and "imported 3 routes" in text
    assert {r: stored(seeded.client, r) for r in before} == before


def test_import_validates_everything_before_writing(seeded, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"routes": [{"route": "/ok", "count": 5}, {"route": "/bad", "count": -1}]}))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 2
    assert "record 2" in capsys.readouterr().err
    assert stored(seeded.client, "/ok") is None


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("no-route.json", json.dumps([{"count": 1}]), "record 1: needs a route"),
        ("bad-methods.csv", "route,count,methods\n/a,1,GET:1\n", "line 2: "),
        ("dup.json", json.dumps([{"route": "/a", "count": 1}, {"route": "/b", "count": 1}, {"route": "/a/", "count": 2}]),
         "record 1 and record 3 are both /a"),
        ("dup.csv", "route,count\n/x/./y,1\n/x/y,2\n", "line 2 and line 3 are both /x/y"),
        ("unicode-digit.json", json.dumps([{"route": "/a", "count": "\u00b2"}]), "is not a whole number"),
        ("negative.json", json.dumps([{"route": "/a", "count": -1}]), "record 1: count -1"),
        ("bool.json", json.dumps([{"route": "/a", "count": True}]), "is not a whole number"),
        ("method.json", json.dumps([{"route": "/a", "count": 1, "methods": {"BREW": 1}}]), "unknown method"),
        ("listing.json", json.dumps([{"route": "/_counts/x", "count": 1}]), "under the listing path"),
        ("long.json", json.dumps([{"route": "/" + "x" * 1100, "count": 1}]), "longer than 1024 bytes"),
        ("shape.json", json.dumps({"routes": 5}), "expected"),
        ("broken.json", "{", "not a JSON or CSV export"),
        ("nested.json", "[" * 100_000 + "]" * 100_000, "JSON nested too deep"),
        ("formula.csv", 'route,count,firstSeen\n/a,1,"=HYPERLINK(""http://x"")"\n', "firstSeen must be a UTC time"),
        ("seen.json", json.dumps([{"route": "/a", "count": 1, "lastSeen": "yesterday"}]), "lastSeen must be a UTC time"),
        ("month-13.json", json.dumps([{"route": "/a", "count": 1, "lastSeen": "2026-13-01T00:00:00.000Z"}]),
         "lastSeen must be a UTC time"),
        ("newline.json", json.dumps([{"route": "/a", "count": 1, "lastSeen": "2026-11-01T00:00:00.000Z\n"}]),
         "lastSeen must be a UTC time"),
        ("missing.json", None, "No such file"),
    ],
)
def test_import_refuses_bad_files_in_one_line_before_any_write(seeded, tmp_path, capsys, name, text, message):
    path = write(tmp_path, name, text) if text is not None else str(tmp_path / name)
    before = seeded.client.scan(TableName=TABLE)["Items"]
    assert main(["--table", TABLE, "import", path, "--yes"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert seeded.client.scan(TableName=TABLE)["Items"] == before  # nothing written


def test_import_resends_unprocessed_items_with_backoff(seeded, tmp_path, monkeypatch):
    from route_counter.cli import cli as cli_module

    calls, sleeps = [], []
    real = seeded.client.batch_write_item

    def sometimes_unprocessed(**kwargs):
        calls.append(kwargs)
        if len(calls) <= 2:  # DynamoDB hands the whole batch back twice (throttled)
            return {"UnprocessedItems": kwargs["RequestItems"]}
        return real(**kwargs)

    monkeypatch.setattr(seeded.client, "batch_write_item", sometimes_unprocessed)
    records = [{"route": f"/imp/{i}", "count": i, "methods": {}} for i in range(30)]
    cli_module.write_records(seeded.client, TABLE, records, sleep=sleeps.append)
    assert len(calls) == 4 and len(sleeps) == 2 and all(0 <= s <= cli_module.BACKOFF_CAP for s in sleeps)
    assert stored(seeded.client, "/imp/29")["count"] == 29


@pytest.mark.parametrize("argv", [["top", "0"], ["top", "1001"], ["top", "\u00b2"], ["nonsense"], ["get"]])
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--table", TABLE, *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err


def test_route_rules_come_from_the_stack_or_flags(seeded, monkeypatch, capsys):
    from route_counter.cli import cli as cli_module

    monkeypatch.setattr(cli_module, "stack_config", lambda stack_name: {"maxRouteBytes": "8", "countsPath": "stats"})
    assert main(["--table", TABLE, "get", "/abcdefghij"]) == 2
    assert "longer than 8 bytes" in capsys.readouterr().err
    assert main(["--table", TABLE, "--max-route-bytes", "100", "get", "/abcdefghij"]) == 3  # not hit, but valid
    assert main(["--table", TABLE, "--max-route-bytes", "9999", "get", "/a"]) == 2
    assert "maxRouteBytes must be an integer from 1 to 2048" in capsys.readouterr().err


def test_no_table_and_no_pulumi_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["list"]) == 2
    assert "pass --table" in capsys.readouterr().err


@pytest.mark.e2e
def test_against_the_local_api(tmp_path):
    with LocalApi("--quiet") as api:
        for route in ("/x", "/x", "/y"):
            api.request("GET", route)

        def counts(*argv: str) -> str:
            result = subprocess.run([sys.executable, "-m", "counts", "--endpoint", api.base, *argv], cwd=ROOT,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return result.stdout

        assert [line.split()[-1] for line in counts("list").splitlines()[1:]] == ["/x", "/y"]
        exported = counts("export")
        assert "reset /x: 2 hits set back to zero" in counts("reset", "/x", "--yes")
        status, _, record = api.request("GET", "/_counts?route=/x")
        assert status == 200 and record["count"] == 0  # the API sees the reset
        assert api.request("GET", "/x")[2]["count"] == 1  # and counting starts again from zero
        # The reset and import writes exist only in the CLI: the API itself never accepts them.
        assert api.request("DELETE", "/_counts?route=/y")[0] == 405
        backup = tmp_path / "export.json"
        backup.write_text(exported)
        assert "imported 2 routes" in counts("import", str(backup), "--yes")
        assert api.request("GET", "/_counts?route=/x")[2]["count"] == 2  # restored from the export


@pytest.mark.e2e
def test_the_local_admin_pass_through_takes_only_dynamodb_operations():
    from route_counter.cli.context import LOCAL_TOKEN_HEADER, local_token_file, read_local_token

    with LocalApi("--quiet") as api:
        # From loopback but without the token (a TCP forwarder such as ngrok or `ssh -R` delivers anyone's
        # request from 127.0.0.1): refused, never counted, and no table named.
        for target in ("DynamoDB_20120810.ListTables", "RouteCounterLocal.StackConfig"):
            for token in ({}, {LOCAL_TOKEN_HEADER: "guess"}):
                status, _, body = api.request("POST", "/", {"X-Amz-Target": target, **token}, b"{}")
                assert status == 400 and "AccessDenied" in json.loads(body)["__type"], (target, token)
                assert b"route-counts-local" not in body
        assert oct(local_token_file(api.port).stat().st_mode & 0o777) == "0o600"
        proof = {LOCAL_TOKEN_HEADER: read_local_token(api.port)}
        for operation in ("close", "get_paginator", "_make_api_call", "NoSuchThing"):
            status, _, body = api.request("POST", "/", {"X-Amz-Target": f"DynamoDB_20120810.{operation}", **proof}, b"{}")
            assert status == 400 and "UnknownOperation" in json.loads(body)["__type"]
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.ListTables", **proof}, b"{}")
        assert status == 200 and json.loads(body)["TableNames"] == ["route-counts-local", "route-counts-local-meter"]
        # Another service's SDK call (an SQS client aimed here) is refused, not counted as a hit on /.
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b"{}")
        assert status == 400 and "UnknownOperation" in json.loads(body)["__type"]
        assert api.request("GET", "/_counts?route=/")[0] == 404
        # A web page (which always sends Origin) cannot reach it: the request is just a counted hit.
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.DeleteTable",
                                                    "Origin": "https://evil.example"}, b'{"TableName": "route-counts-local"}')
        assert status == 200 and body == {"route": "/", "count": 1}
    assert not local_token_file(api.port).exists()  # gone with the server


@pytest.fixture
def aged(writer, hits, clock):
    """/old: 4 hits 30 hours ago; /new: 1 hit now."""
    clock.advance(-30 * 3600)
    hits({"/old": 4})
    clock.advance(30 * 3600)
    hits({"/new": 1})
    return writer


def test_top_and_list_take_a_window(aged):
    code, text = cli("top", "10", "--window", "24h")
    assert code == 0 and text.splitlines()[0].split()[:2] == ["hits", "24h"]
    assert [line.split()[-1] for line in text.splitlines()[1:]] == ["/new"]
    code, text = cli("list", "--window", "7d")
    assert [(line.split()[1], line.split()[-1]) for line in text.splitlines()[1:]] == [("4", "/old"), ("1", "/new")]
    with pytest.raises(SystemExit) as exit_:
        main(["--table", TABLE, "top", "3", "--window", "2h"])
    assert exit_.value.code == 2


def test_get_prints_the_series_and_export_import_carry_them(aged, tmp_path):
    record = json.loads(cli("get", "/old")[1])
    assert record["hourly"] == {"2026-11-22T23": 4} and record["daily"] == {"2026-11-22": 4}
    raw = aged.client.get_item(TableName=TABLE, Key={"route": {"S": "/old"}})["Item"]
    for fmt in ("json", "csv"):
        path = tmp_path / f"export.{fmt}"
        path.write_text(cli("export", "--format", fmt)[1])
        aged.client.delete_item(TableName=TABLE, Key={"route": {"S": "/old"}})
        assert cli("import", str(path), "--yes")[0] == 0
        assert aged.client.get_item(TableName=TABLE, Key={"route": {"S": "/old"}})["Item"] == raw


def test_reset_clears_the_series(aged):
    assert cli("reset", "/old", "--yes")[0] == 0
    record = json.loads(cli("get", "/old")[1])
    assert (record["count"], record["hourly"], record["daily"]) == (0, {}, {})
    assert cli("top", "5", "--window", "30d")[1].splitlines()[1:] == [cli("top", "5", "--window", "30d")[1].splitlines()[1]]


def test_import_refuses_bad_bucket_times_and_countries(seeded, tmp_path, capsys):
    for bad in ({"hourly": {"2026-1-5T05": 1}}, {"daily": {"yesterday": 1}}, {"countries": {"XX": 1}},
                {"hourly": {"2026-11-24T05": -1}}):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps([{"route": "/ok", "count": 1, **bad}]))
        assert main(["--table", TABLE, "import", str(path), "--yes"]) == 2
        assert "record 1" in capsys.readouterr().err
    assert stored(seeded.client, "/ok") is None


def test_global_options_work_before_or_after_the_command(seeded, capfd):
    assert main(["list", "--table", TABLE]) == 0
    assert capfd.readouterr().out.splitlines()[1].split()[-1] == "/a"
    assert main(["--table", "nope", "get", "/a", "--table", TABLE]) == 0  # the later one wins, as usual
    assert json.loads(capfd.readouterr().out)["count"] == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--endpoint", "notaurl", "list"], "--endpoint must be an http:// or https:// URL"),
    (["list", "--endpoint", "ftp://x"], "--endpoint must be an http:// or https:// URL"),
    (["list", "--endpoint", "http://127.0.0.1:99999"], "--endpoint port must be from 1 to 65535"),
    (["list", "--endpoint", "http://127.0.0.1:0"], "--endpoint port must be from 1 to 65535"),
    (["list", "--endpoint", "http://dynamo.example.com:8000"], "plain http:// off this machine"),
    (["list", "--endpoint", "http://10.0.0.5"], "plain http:// off this machine"),
    (["list", "--endpoint", "http://127.0.0.1:8080\n"], "--endpoint must be an http:// or https:// URL"),
    (["--region", "bad region!", "list"], "--region must be an AWS region name like us-east-1"),
])
def test_a_bad_endpoint_or_region_is_one_line_not_a_traceback(argv, message, capsys):
    assert main(["--table", TABLE, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("record", "message"), [
    ({"count": 10**130}, "leaves no room for more hits"),
    ({"count": 1, "methods": {"GET": 10**39 + 1}}, "leaves no room for more hits"),
    ({"count": 10**40}, "leaves no room for more hits"),  # holds, but its next hit would need 41 digits
    ({"count": 1, "firstSeen": "x" * 410_000}, "firstSeen must be a UTC time"),
    ({"count": 1, "lastSeen": 12}, "lastSeen must be a UTC time"),
])
def test_import_checks_dynamodbs_own_limits_before_the_first_write(seeded, tmp_path, capsys, record, message):
    rows = [{"route": f"/ok/{i}", "count": i, "methods": {}} for i in range(29)] + [{"route": "/bad", **record}]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(rows))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 2
    assert message in capsys.readouterr().err
    assert stored(seeded.client, "/ok/0") is None and stored(seeded.client, "/bad") is None  # nothing written


def test_a_store_failure_mid_import_says_which_records_were_written(seeded, tmp_path, monkeypatch, capsys):
    from botocore.exceptions import ClientError

    real, calls = seeded.client.batch_write_item, []

    def fails_second_batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "BatchWriteItem")
        return real(**kwargs)

    monkeypatch.setattr(seeded.client, "batch_write_item", fails_second_batch)
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    path = tmp_path / "thirty.json"
    path.write_text(json.dumps([{"route": f"/imp/{i}", "count": i + 1, "methods": {}} for i in range(30)]))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 1  # an AWS error: 1
    err = capsys.readouterr().err
    assert "25 of 30 records were written (records 1 to 25)" in err and "importing the same file again is safe" in err
    assert stored(seeded.client, "/imp/24")["count"] == 25 and stored(seeded.client, "/imp/25") is None
    monkeypatch.setattr(seeded.client, "batch_write_item", real)
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 0  # and running it again completes it
    assert stored(seeded.client, "/imp/29")["count"] == 30


def test_stored_routes_with_invisible_characters_are_shown_escaped(writer, capfd):
    writer.client.put_item(TableName=TABLE, Item={"route": {"S": "/admin\u202egpj.exe"}, "count": {"N": "1"}})
    assert main(["--table", TABLE, "list"]) == 0
    assert capfd.readouterr().out.splitlines()[1].split()[-1] == "/admin\\u{202E}gpj.exe"


@pytest.mark.e2e
def test_the_cli_works_against_a_local_api_bound_to_every_address_and_never_counts_itself():
    """`make dev HOST=0.0.0.0` (the README's example): the CLI on this machine reaches it over loopback."""
    with LocalApi("--quiet", "--host", "0.0.0.0") as api:
        assert any("manage:" in line and "http://127.0.0.1:" in line for line in api.read_banner())
        for route in ("/hello", "/hello"):
            api.request("GET", route)
        endpoint = f"http://127.0.0.1:{api.port}"

        def counts(*argv: str, **kwargs) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "counts", *argv, "--endpoint", endpoint], cwd=ROOT,
                                  capture_output=True, text=True, timeout=60, **kwargs)

        listed = counts("list")
        assert listed.returncode == 0 and [line.split()[-1] for line in listed.stdout.splitlines()[1:]] == ["/hello"]
        assert json.loads(counts("get", "/hello").stdout)["count"] == 2
        assert counts("get", "/nothing").returncode == 3
        assert api.request("GET", "/_counts?route=/")[0] == 404  # no CLI call was ever counted as a POST on /
        # A reader that is gone (`export | head`): no traceback, the shell's status for a closed pipe.
        import os

        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            closed = subprocess.run([sys.executable, "-m", "counts", "--endpoint", endpoint, "export"], cwd=ROOT,
                                    stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write_end)
        assert closed.returncode == 141 and "Traceback" not in closed.stderr, closed.stderr


def test_the_local_admin_pass_through_refuses_other_machines_in_dynamodbs_shape():
    """Bound to 0.0.0.0, a DynamoDB call from another machine is refused (it could reset counts), never counted."""
    from local.server import LocalApp

    class NoBackend:
        def dynamodb_api(self, *_):
            raise AssertionError("must not reach the store")

        def invoke(self, *_):
            raise AssertionError("must not be counted")

    app = LocalApp(SimpleNamespace(admin=True, counts_api_key=None, counts_path="_counts", stage="v1"), NoBackend())
    app.token = "known"
    environ = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "192.0.2.10", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.DeleteTable",
               "HTTP_X_ROUTE_COUNTER_TOKEN": "known",  # even with the token: never from afar
               "wsgi.input": io.BytesIO(b'{"TableName": "route-counts-local"}')}
    status, _, body = app._respond(environ, "POST")
    assert status == 400 and "AccessDeniedException" in json.loads(body)["__type"]
    assert "127.0.0.1" in json.loads(body)["message"]


def test_set_makes_the_count_n_in_one_update_keeping_methods_history_and_first_seen(seeded, capsys, monkeypatch):
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)  # to see its requests
    first_seen = stored(seeded.client, "/a")["firstSeen"]
    assert main(["--table", TABLE, "set", "/a", "1000"]) == 2  # no terminal: asks, so needs --yes
    assert "pass --yes" in capsys.readouterr().err and stored(seeded.client, "/a")["count"] == 3
    seeded.sent.clear()
    code, text = cli("set", "/a", "1000", "--yes")
    assert code == 0 and text == "set /a to 1,000 hits (was 3; its methods, history and first seen are kept)\n"
    assert seeded.sent["UpdateItem"] == 1  # one atomic update
    after = stored(seeded.client, "/a")
    assert (after["count"], after["methods"], after["firstSeen"]) == (1000, {"GET": 3}, first_seen)
    code, text = cli("set", "/moved/from/elsewhere", "12345", "--yes")  # a route this counter never saw
    assert code == 0 and "(a new route;" in text and stored(seeded.client, "/moved/from/elsewhere")["count"] == 12345


def test_delete_removes_the_route_and_says_what_it_held(seeded, capsys):
    assert main(["--table", TABLE, "delete", "/b/c"]) == 2  # no terminal: asks, so needs --yes
    assert "pass --yes" in capsys.readouterr().err and stored(seeded.client, "/b/c")["count"] == 2
    code, text = cli("delete", "/b/c", "--yes")
    assert code == 0 and text == "deleted /b/c (2 hits); a new hit starts it again from 1\n"
    assert stored(seeded.client, "/b/c") is None
    assert main(["--table", TABLE, "delete", "/b/c", "--yes"]) == 3  # nothing there: not found
    assert "has not been hit" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["set", "/a/", "5", "--yes"], "'/a/' is counted as '/a': use that"),
    (["delete", "/x/../a", "--yes"], "is counted as '/a'"),
    (["set", "/_counts", "5", "--yes"], "never counted"),
    (["delete", "/_counts/badge", "--yes"], "never counted"),
    (["set", "/a", "-1", "--yes"], "not a whole number"),
    (["set", "/a", "1" + "0" * 130, "--yes"], "leaves no room for more hits"),
])
def test_set_and_delete_refuse_what_no_hit_could_reach_and_write_nothing(seeded, capsys, monkeypatch, argv, message):
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    seeded.sent.clear()
    try:
        code = main(["--table", TABLE, *argv])
    except SystemExit as exit_:  # a bad N: argparse's usage error, one line
        code = exit_.code
    assert code == 2 and message in capsys.readouterr().err
    assert seeded.writes == 0 and stored(seeded.client, "/a")["count"] == 3


def test_windows_end_on_the_stack_s_day(writer, hits, clock, capsys):
    """A hit on 11-17 (UTC) is out of the last 7 days on 11-24 in UTC, but in them where it is still the 23rd."""
    clock.advance(-(6 * 86400 + 9.5 * 3600))  # 2026-11-17T20:00Z
    hits({"/week-old": 1})
    clock.advance(6 * 86400 + 9.5 * 3600)
    assert cli("list", "--window", "7d")[1].splitlines()[1:] == []
    rows = cli("list", "--window", "7d", "--timezone", "Pacific/Pago_Pago")[1].splitlines()[1:]
    assert [row.split()[-1] for row in rows] == ["/week-old"]
    assert main(["--table", TABLE, "list", "--timezone", "Mars/Olympus"]) == 2
    assert "timezone must be an IANA time zone name" in capsys.readouterr().err


@pytest.mark.parametrize(("config", "argv", "message"), [
    ({"allowPrefixes": "/visits"}, ["set", "/other", "5", "--yes"], "outside the allowed prefixes"),
    ({"routeTemplates": "/users/{id}"}, ["set", "/users/7", "5", "--yes"], "'/users/7' is counted as '/users/{id}'"),
    ({"routeTemplates": "/users/{id}"}, ["delete", "/users/7", "--yes"], "is counted as '/users/{id}'"),
])
def test_set_and_delete_apply_the_stack_s_own_route_rules(seeded, capsys, monkeypatch, config, argv, message):
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: config)
    seeded.sent.clear()
    assert main(["--table", TABLE, *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (seeded.sent["UpdateItem"] + seeded.sent["DeleteItem"])


def test_the_metered_name_s_exemption_stops_at_the_slash(seeded, capsys, monkeypatch):
    """``shop`` is metered: /shop/... may be set whatever allowPrefixes says, /shopping may not."""
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"allowPrefixes": "/api", "meter": "shop=/aws/x"})
    seeded.sent.clear()
    for route in ("/shopping", "/shop-x", "/shopx/y"):
        assert main(["--table", TABLE, "set", route, "5", "--yes"]) == 2
        assert "outside the allowed prefixes" in capsys.readouterr().err
    assert not seeded.sent["UpdateItem"] and stored(seeded.client, "/shopping") is None


def test_set_and_import_take_the_largest_count_they_promise_and_refuse_the_next(seeded, tmp_path, capsys, monkeypatch):
    """A count that leaves no room would make every later hit fail with a number overflow: the largest one
    allowed still takes a hit, and one more is refused."""
    from route_counter.handler.rules import schema

    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    most = schema.MAX_SET_COUNT
    assert main(["--table", TABLE, "set", "/a", str(most), "--yes"]) == 0
    with pytest.raises(SystemExit) as refused:  # argparse's own one-line usage error
        main(["--table", TABLE, "set", "/a", str(most + 1), "--yes"])
    assert refused.value.code == 2 and "leaves no room" in capsys.readouterr().err and stored(seeded.client, "/a")["count"] == most
    path = tmp_path / "max.json"
    path.write_text(json.dumps([{"route": "/b/c", "count": most, "methods": {"GET": most}}]))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 0
    path.write_text(json.dumps([{"route": "/b/c", "count": most + 1}]))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 2 and "leaves no room" in capsys.readouterr().err
    assert stored(seeded.client, "/b/c")["count"] == most
    event, _ = build_event("GET", "/b/c")  # and the route still counts
    from route_counter.handler import counter
    from route_counter.handler.rules.settings import Settings

    answer = counter.handle(event, None, Settings.from_env(os.environ), seeded)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["count"] == most + 1


def test_every_csv_cell_a_spreadsheet_would_run_is_neutralised(seeded, capsys):
    """A record imported before timestamps were checked (or written by hand) never reaches a spreadsheet
    as a formula: cells beginning with =, +, -, @ are exported with a leading apostrophe."""
    seeded.client.update_item(TableName=TABLE, Key={"route": {"S": "/d"}}, UpdateExpression="SET firstSeen = :f, lastSeen = :l",
                              ExpressionAttributeValues={":f": {"S": '=HYPERLINK("http://x","y")'}, ":l": {"S": "@SUM(A1)"}})
    code, text = cli("export", "--format", "csv")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["route"] == "/d")
    assert code == 0 and row["firstSeen"] == "'=HYPERLINK(\"http://x\",\"y\")" and row["lastSeen"] == "'@SUM(A1)"
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in csv.reader(io.StringIO(text)) for cell in r)


def test_set_may_move_a_metered_route_whatever_allow_prefixes_says(seeded, monkeypatch):
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    monkeypatch.setattr("route_counter.cli.cli.stack_config", lambda _: {"allowPrefixes": "/visits", "meter": "shop=/aws/x"})
    assert main(["--table", TABLE, "set", "/shop/users/{id}", "5", "--yes"]) == 0
    assert stored(seeded.client, "/shop/users/{id}")["count"] == 5


def test_set_keeps_first_seen(seeded, clock, monkeypatch):
    monkeypatch.setattr("route_counter.cli.cli.make_client", lambda args: seeded.client)
    before = stored(seeded.client, "/a")["firstSeen"]
    clock.advance(86400)
    assert main(["--table", TABLE, "set", "/a", "42", "--yes"]) == 0
    after = stored(seeded.client, "/a")
    assert (after["count"], after["firstSeen"]) == (42, before)
