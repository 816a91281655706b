"""routeExpiryDays: a route nobody hits for N days is deleted by DynamoDB's TTL, pushed by each counted
hit in its one existing update."""

from __future__ import annotations

import json
import os

import pulumi
import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules import schema, update
from route_counter.handler.rules.settings import COUNT_BOTS, ROUTE_EXPIRY_DAYS, Settings
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.conftest import START, TABLE, stored
from tests.stack import run_program
from tests.test_infra import check

D = 86400
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_a_counted_hit_moves_the_expiry_in_its_one_update_and_a_bot_never_does():
    request = update.hit_request(TABLE, update.Hit("/x", "GET", START, expiry_days=30))
    assert request["ExpressionAttributeNames"]["#exp"] == schema.EXPIRES and ", #exp = :exp" in request["UpdateExpression"]
    assert request["ExpressionAttributeValues"][":exp"] == {"N": str(int(START) + 30 * D)}
    bot = update.hit_request(TABLE, update.Hit("/x", "GET", START, bot=True, expiry_days=30))
    assert "#exp" not in bot["ExpressionAttributeNames"]
    off = update.hit_request(TABLE, update.Hit("/x", "GET", START))  # expiry off: any old date goes
    assert "#exp" in off["UpdateExpression"].partition(" REMOVE ")[2].split(", ") and ":exp" not in off["ExpressionAttributeValues"]


@pytest.fixture
def expiring(writer) -> Settings:
    return Settings.from_env({**os.environ, ROUTE_EXPIRY_DAYS: "30", COUNT_BOTS: "true"})


def hit(writer, settings, ua="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"):
    event, _ = build_event("GET", "/old/page", [("User-Agent", ua)])
    assert counter.handle(event, None, settings, writer)["statusCode"] == 200


def expires(writer) -> int:
    item = writer.client.get_item(TableName=TABLE, Key=schema.key("/old/page"))["Item"]
    return int(item[schema.EXPIRES]["N"])


def test_each_counted_hit_pushes_the_route_s_expiry_with_no_extra_request(writer, expiring, reader, clock):
    hit(writer, expiring)
    assert expires(writer) == int(START) + 30 * D
    clock.advance(3 * 3600)
    writer.sent.clear()
    hit(writer, expiring)
    assert writer.sent["UpdateItem"] == 1  # still the one request of a hit
    assert expires(writer) == int(START) + 3 * 3600 + 30 * D
    clock.advance(3600)
    hit(writer, expiring, GOOGLEBOT)  # a crawler's hit does not keep it alive
    assert expires(writer) == int(START) + 3 * 3600 + 30 * D
    event, _ = build_event("GET", "/_counts?route=/old/page")
    record = json.loads(listing.handle(event, None, expiring, reader)["body"])
    assert record["expires"] == schema.iso(START + 3 * 3600 + 30 * D)  # the listing says when it may go


@pulumi.runtime.test
def test_the_counts_table_has_ttl_and_the_counter_its_expiry_days():
    def assertions(recorder, _):
        tables = {t.name: t.inputs for t in recorder.of_type("aws:dynamodb/table:Table")}
        assert tables["route-counter-table"]["ttl"] == {"attributeName": "expires", "enabled": True}
        variables = {f.name: f.inputs["environment"]["variables"] for f in recorder.of_type("aws:lambda/function:Function")}
        assert variables["route-counter-counter"][ROUTE_EXPIRY_DAYS] == "90"
        assert ROUTE_EXPIRY_DAYS not in variables["route-counter-listing"]

    return check(run_program(routeExpiryDays=90), assertions)


@pulumi.runtime.test
def test_without_expiry_the_table_keeps_ttl_for_idempotency_claims():
    def assertions(recorder, _):
        tables = {t.name: t.inputs for t in recorder.of_type("aws:dynamodb/table:Table")}
        assert tables["route-counter-table"]["ttl"] == {"attributeName": "expires", "enabled": True}

    return check(run_program(), assertions)


def test_with_expiry_off_a_hit_removes_a_date_an_earlier_setting_left(writer, settings):
    expiring = settings._replace(expiry_days=30)
    event, _ = build_event("GET", "/x")
    counter.handle(event, None, expiring, writer)
    assert "expires" in stored(writer.client, "/x")
    counter.handle(event, None, settings, writer)  # routeExpiryDays back to 0
    assert "expires" not in stored(writer.client, "/x") and stored(writer.client, "/x")["count"] == 2


@pytest.mark.parametrize("value", ["-1", "3651", "soon"])
def test_a_bad_expiry_is_refused_naming_the_key(value):
    with pytest.raises(SettingsError, match="routeExpiryDays must be an integer from 0 to 3650"):
        parse({"routeExpiryDays": value})
