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
    code, text = cli("reset", "/a", "--yes")
    assert code == 0 and "reset /a" in text
    assert stored(seeded.client, "/a") is None


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_round_trips(seeded, tmp_path, fmt):
    code, exported = cli("export", "--format", fmt)
    assert code == 0
    path = tmp_path / f"counts.{fmt}"
    path.write_text(exported)
    before = {r: stored(seeded.client, r) for r in ("/a", "/b/c", "/d")}
    for route in before:
        cli("reset", route, "--yes")
    code, text = cli("import", str(path), "--yes")
    assert code == 0 and "imported 3 routes" in text
    assert {r: stored(seeded.client, r) for r in before} == before


def test_import_validates_everything_before_writing(seeded, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"routes": [{"route": "/ok", "count": 5}, {"route": "/bad", "count": -1}]}))
    assert main(["--table", TABLE, "import", str(path), "--yes"]) == 2
    assert "record 2" in capsys.readouterr().err
    assert stored(seeded.client, "/ok") is None


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
        assert "reset /x" in counts("reset", "/x", "--yes")
        status, _, _ = api.request("GET", "/_counts?route=/x")
        assert status == 404  # the API sees the reset
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
