"""The admin CLI (`python -m counts`): on moto in-process, and against the local API over HTTP."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from counts.cli import main, parser, run
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


def test_list_get_top(seeded):
    code, text = cli("list")
    assert code == 0
    assert [line.split()[-1] for line in text.splitlines()[1:]] == ["/a", "/b/c", "/d"]
    assert [line.split()[0] for line in text.splitlines()[1:]] == ["3", "2", "1"]
    code, text = cli("get", "/b/c/")
    assert code == 0 and json.loads(text)["count"] == 2 and json.loads(text)["methods"] == {"GET": 2}
    code, text = cli("top", "1")
    assert code == 0 and text.splitlines()[1].split()[-1] == "/a"
    assert cli("get", "/never")[0] == 1


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
    from counts import cli as cli_module
    from handler import queries

    shown = queries.get_route

    def shown_then_hit(client, table, route, view):
        record = shown(client, table, route, view)
        hits({route: 1})  # lands after the count was shown, before the reset
        return record

    monkeypatch.setattr(queries, "get_route", shown_then_hit)
    code, text = cli("reset", "/a", "--yes")
    assert code == 0 and "1 hits arrived since it was shown and are kept" in text
    assert stored(seeded.client, "/a")["count"] == 1 and stored(seeded.client, "/a")["methods"] == {"GET": 1}
    assert cli_module.queries.get_route is shown_then_hit


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
    from counts import cli as cli_module

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
    from counts import cli as cli_module

    monkeypatch.setattr(cli_module, "stack_config", lambda stack_name: {"maxRouteBytes": "8", "countsPath": "stats"})
    assert main(["--table", TABLE, "get", "/abcdefghij"]) == 2
    assert "longer than 8 bytes" in capsys.readouterr().err
    assert main(["--table", TABLE, "--max-route-bytes", "100", "get", "/abcdefghij"]) == 1  # not hit, but valid
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
    with LocalApi("--quiet") as api:
        for operation in ("close", "get_paginator", "_make_api_call", "NoSuchThing"):
            status, _, body = api.request("POST", "/", {"X-Amz-Target": f"DynamoDB_20120810.{operation}"}, b"{}")
            assert status == 400 and "UnknownOperation" in json.loads(body)["__type"]
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}")
        assert status == 200 and json.loads(body)["TableNames"] == ["route-counts-local"]
        # A web page (which always sends Origin) cannot reach it: the request is just a counted hit.
        status, _, body = api.request("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.DeleteTable",
                                                    "Origin": "https://evil.example"}, b'{"TableName": "route-counts-local"}')
        assert status == 200 and body == {"route": "/", "count": 1}


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
