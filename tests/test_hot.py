"""Hot routes past DynamoDB's per-key limit (handler/rules/parts.py, handler/store/spread.py): the counter
against a stand-in that throttles each key past its write units per virtual second (tests/partitions.py),
every hit counted exactly once and every reader seeing one route with the exact sum."""

from __future__ import annotations

import json

import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules import parts, schema
from route_counter.handler.store import queries
from route_counter.handler.store.dynamo import create_client
from route_counter.handler.store.spread import Spread
from local.events import build_event
from tests.conftest import TABLE, seeded_parts, stored
from tests.partitions import WINDOW, PartitionLimits

# The model at 1/50 scale, so a test sends hundreds of hits, not tens of thousands: a key takes 20 write
# units a second (DynamoDB: 1,000), and the offered load is 200 hits a second (10,000).
SCALE = 50
KEY_UNITS = 1000 // SCALE


class Whole(Spread):
    """Parts off: every hit goes to the head (the counter before #40)."""

    def can_spread(self, route: str) -> bool:
        return False


def offer(limits, settings, clock, rate: float, seconds: float, route="/hot", spread: Spread | None = None):
    """Send ``rate`` hits a second for ``seconds`` of virtual time through the real handler; the answers.
    Each hit starts at its own arrival time, whatever earlier ones slept: they would run side by side."""
    if spread is not None:
        counter.SPREAD = spread
    answers, start = [], clock.now
    for i in range(int(rate * seconds)):
        clock.now = start + (i + 1) / rate
        event, _ = build_event("GET", route)
        response = counter.handle(event, None, settings, limits)
        answers.append((response["statusCode"], json.loads(response["body"])))
    return answers


@pytest.fixture
def limits(table, clock):
    return PartitionLimits(create_client(retries=False), clock.monotonic, write_units=KEY_UNITS, read_units=3 * KEY_UNITS)


def test_one_key_stops_at_its_limit_with_parts_off(limits, settings, clock):
    answers = offer(limits, settings, clock, 10 * KEY_UNITS, 2.0, spread=Whole())
    ok = [a for a in answers if a[0] == 200]
    # Two seconds' budget, and the next second's for the hits still retrying when the load ends.
    assert 2 * KEY_UNITS <= len(ok) <= 3 * KEY_UNITS
    assert {a[1]["error"] for a in answers if a[0] != 200} == {"throttled"}
    assert stored(limits.client, "/hot")["count"] == len(ok)


def test_parts_sustain_ten_times_one_keys_limit_and_count_every_hit_once(limits, settings, clock):
    answers = offer(limits, settings, clock, 10 * KEY_UNITS, 2.0)
    assert {status for status, _ in answers} == {200}
    assert stored(limits.client, "/hot")["count"] == len(answers) == 20 * KEY_UNITS
    head = limits.client.get_item(TableName=TABLE, Key=schema.key("/hot"))["Item"]
    assert int(head[parts.PARTS]["N"]) >= 8 and limits.throttled["UpdateItem"] > 0
    # No key ever took more than its limit: the stand-in refused the rest, and the counter moved on.
    assert max(n for (kind, _, _), n in limits.used.items() if kind == "write") <= KEY_UNITS * WINDOW
    # Each answer is the total as last read (at most a second old) plus this container's own writes since.
    counts = [body["count"] for _, body in answers]
    assert counts[-1] <= len(answers) and all(c >= 1 for c in counts)
    assert counts[-1] >= len(answers) - KEY_UNITS * 10  # at most a second's hits behind


def test_a_cold_route_still_costs_one_request_and_one_write_unit(limits, settings, clock):
    offer(limits, settings, clock, 5, 2.0, route="/cold")
    assert limits.sent == {"UpdateItem": 10} and limits.write_units == 10


def test_every_reader_sees_a_hot_route_as_one_with_the_exact_sum(limits, settings, clock, reader):
    from route_counter.handler.rules.addresses import parse_networks

    answers = offer(limits, settings, clock, 10 * KEY_UNITS, 1.0)
    offer(limits, settings, clock, 3, 1.0, route="/cold")
    total = sum(status == 200 for status, _ in answers)  # a 503 "throttled" hit is certainly not counted
    view = queries.View(clock.time(), series=True)
    record = queries.get_route(reader.client, TABLE, "/hot", view)
    assert record["count"] == total and record["methods"] == {"GET": total}
    assert sum(record["hourly"].values()) == total and sum(record["daily"].values()) == total
    assert record["firstSeen"] < record["lastSeen"]
    page = queries.list_page(reader.client, TABLE, "/", 1000, None, view)
    assert [(r["route"], r["count"]) for r in page["routes"]] == [("/hot", total), ("/cold", 3)]
    small = queries.list_page(reader.client, TABLE, "/", 1, None, view)  # paged one key at a time
    seen, after = [], None
    while True:
        page = queries.list_page(reader.client, TABLE, "/", 1, after, view)
        seen += [(r["route"], r["count"]) for r in page["routes"]]
        if not page["next"]:
            break
        after = queries.decode_cursor(page["next"], "/")
    assert sorted(seen) == [("/cold", 3), ("/hot", total)] and small["routes"] is not None
    top = queries.top_routes(reader.client, TABLE, "/", 10, view)
    assert [(r["route"], r["count"]) for r in top["routes"]] == [("/hot", total), ("/cold", 3)]
    assert sum(top["totals"]["hourly"].values()) == total + 3
    event, _ = build_event("GET", "/_counts/badge?route=/hot&format=shields")
    badge = json.loads(listing.handle(event, None, settings, reader)["body"])
    assert badge["message"] == f"{total:,}"
    # An ignored address's answer shows the sum too (its head, then the parts the head lists).
    event, _ = build_event("GET", "/hot")
    ignoring = settings._replace(ignored=parse_networks("0.0.0.0/0"))
    assert json.loads(counter.handle(event, None, ignoring, limits)["body"])["count"] == total
    # A new function instance, once the route has cooled here, learns the parts from the head's answer.
    clock.advance(120)
    fresh = offer(limits, settings, clock, 1, 1.0, route="/hot", spread=Spread(pick=seeded_parts(2)))
    assert fresh == [(200, {"route": "/hot", "count": total + 1})]


def test_a_rate_limited_route_stays_whole_so_its_limit_stays_exact(limits, settings, clock):
    from route_counter.handler.rules.limits import parse_rate_limits

    limited = settings._replace(limits=parse_rate_limits("/hot=30/1m"))
    answers = offer(limits, limited, clock, 10 * KEY_UNITS, 1.0)
    assert sum(status == 200 for status, _ in answers) == 30
    assert {status for status, _ in answers} <= {200, 429, 503}
    head = limits.client.get_item(TableName=TABLE, Key=schema.key("/hot"))["Item"]
    assert parts.PARTS not in head and int(head[schema.COUNT]["N"]) == 30


def cli_run(*argv: str) -> tuple[int, str]:
    import io

    from route_counter.cli.cli import parser, run

    out = io.StringIO()
    return run(parser().parse_args(["--table", TABLE, *argv]), out, io.StringIO()), out.getvalue()


def test_set_reset_and_delete_act_on_every_part_of_a_hot_route(limits, settings, clock, reader):
    from route_counter.cli import cli

    answers = offer(limits, settings, clock, 10 * KEY_UNITS, 0.5)
    assert len(queries.route_items(reader.client, TABLE, "/hot")) > 2  # the head and its parts
    code, text = cli_run("reset", "/hot", "--yes")
    assert code == 0 and text == f"reset /hot: {len(answers):,} hits set back to zero (first seen kept)\n"
    assert stored(reader.client, "/hot")["count"] == 0
    offer(limits, settings, clock, 10 * KEY_UNITS, 0.25)
    assert cli.set_count(reader.client, TABLE, "/hot", 7, clock.time()) == 5 * KEY_UNITS // 2
    assert stored(reader.client, "/hot")["count"] == 7
    assert cli.delete_route(reader.client, TABLE, "/hot") == 7
    assert stored(reader.client, "/hot") is None and queries.route_items(reader.client, TABLE, "/hot") == []


def test_with_route_expiry_the_head_keeps_the_date_and_the_parts_carry_none(limits, settings, clock):
    expiring = settings._replace(expiry_days=30)
    offer(limits, expiring, clock, 10 * KEY_UNITS, 0.5)
    items = queries.route_items(limits.client, TABLE, "/hot")
    head, hot = items[0], items[1:]
    assert hot and all(schema.EXPIRES not in item for item in hot)  # a part never expires on its own
    # The head's date: a day beyond a hit's, moved by the instance spreading the route.
    assert int(head[schema.EXPIRES]["N"]) >= int(clock.time()) + 30 * 86400
