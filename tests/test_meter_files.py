"""Metering from files and on your own machine (#33): the stack's own rules, metrics that count once, lines
named when they cannot be metered, and a replay that can be tried locally."""

from __future__ import annotations

import os

from handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES, Settings
from handler.rules import schema
from handler.store.dynamo import create_client
from tests.conftest import METER
from tests.metered import GROUP, deliver, rest_line, totals


def test_allow_prefixes_applies_to_catch_all_lines_only(table):
    client = create_client(retries=True)
    client.create_table(**schema.meter_table_kwargs(METER))
    settings = Settings.from_env({**os.environ, METER_TABLE: METER, METER_SOURCES: f"shop={GROUP}",
                                  "ALLOW_PREFIXES": "/visits"}, METER_VARIABLES)
    done = deliver(settings, lambda: client, [("t", rest_line("/users/7", "/users/{id}")),
                                              ("in", rest_line("/visits/a")), ("out", rest_line("/other"))])
    assert (done["Metered"], done["Refused"]) == (2, 1)
    assert sorted(totals(client)) == ["/shop/users/{id}", "/shop/visits/a"]


def test_a_redelivery_that_applies_nothing_adds_nothing_to_the_metrics(metering):
    client = create_client(retries=True)
    lines = [("a", rest_line("/a", "/a")), ("b", rest_line("/b", "/b")), ("x", "not a line")]
    first, again = deliver(metering, lambda: client, lines), deliver(metering, lambda: client, lines)
    assert (first["Metered"], first["Unparsed"]) == (2, 1)
    assert (again["Metered"], again["Unparsed"], again["skipped"]) == (0, 0, 1)
    assert totals(client)["/shop/a"]["count"] == 1
