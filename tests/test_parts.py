"""What items hold a route (handler/rules/parts.py): keys that never pass for a route or for each other,
and the sum of a route's parts as one item. Pure."""

from __future__ import annotations

from hypothesis import given, strategies as st

from route_counter.handler.rules import idempotency, parts, schema
from route_counter.handler.rules.routes import RouteError, normalize

routes = st.text(min_size=0, max_size=40).map(lambda s: "/" + s.replace("\x00", "")).filter(
    lambda r: _normal(r))


def _normal(route: str) -> bool:
    try:
        return normalize(route) == route
    except RouteError:
        return False


@given(routes, st.sampled_from(["", "eu-west-1", "ap-southeast-2"]), st.text("0123456789abcdef", min_size=8, max_size=8),
       st.integers(1, parts.MAX_PARTS))
def test_every_key_names_its_route_region_and_part_and_none_is_a_route(route, region, gen, number):
    part = parts.part_key(route, region, gen, number)
    assert parts.parse(part) == parts.Part(route, region, gen, number) and not parts.is_route(part)
    head = parts.head_key(route, region)
    assert parts.parse(head) == parts.Part(route, region, "", 0)
    assert parts.is_route(head) == (region == "")


def test_an_idempotency_claim_is_no_routes_key():
    claim = idempotency.claim_key("GET", "/a", "k")
    assert parts.parse(claim) is None and not parts.is_route(claim)


def test_the_parts_of_a_route_add_up_to_one_item():
    head = {schema.KEY: {"S": "/a"}, schema.COUNT: {"N": "5"}, "count:GET": {"N": "5"}, "c:DE": {"N": "2"},
            schema.VISITORS: {"N": "1"}, schema.FIRST_SEEN: {"S": "2026-11-01T00:00:00.000Z"},
            schema.LAST_SEEN: {"S": "2026-11-02T00:00:00.000Z"}, schema.EXPIRES: {"N": "100"},
            parts.PARTS: {"N": "4"}, parts.GEN: {"S": "abcd1234"}}
    part = {schema.KEY: {"S": parts.part_key("/a", "", "abcd1234", 2)}, schema.COUNT: {"N": "7"},
            "count:GET": {"N": "6"}, "count:POST": {"N": "1"}, "c:DE": {"N": "1"}, "c:FR": {"N": "3"},
            schema.BOTS: {"N": "9"}, schema.FIRST_SEEN: {"S": "2026-11-01T12:00:00.000Z"},
            schema.LAST_SEEN: {"S": "2026-11-03T00:00:00.000Z"}}
    merged = parts.merge("/a", [head, part])
    record = schema.item_to_record(merged)
    assert (record["route"], record["count"], record["methods"]) == ("/a", 12, {"GET": 11, "POST": 1})
    assert record["countries"] == {"FR": 3, "DE": 3} and (record["visitors"], record["bots"]) == (1, 9)
    assert (record["firstSeen"], record["lastSeen"]) == ("2026-11-01T00:00:00.000Z", "2026-11-03T00:00:00.000Z")
    assert merged[schema.EXPIRES] == {"N": "100"} and parts.PARTS not in merged and parts.GEN not in merged


def test_a_head_lists_its_hot_parts_and_a_cold_one_none():
    head = {schema.KEY: {"S": "/a"}, parts.PARTS: {"N": "3"}, parts.GEN: {"S": "g1"}}
    assert parts.hot_keys("/a", "", head) == [parts.part_key("/a", "", "g1", i) for i in (1, 2, 3)]
    assert parts.hot_keys("/a", "", {schema.KEY: {"S": "/a"}}) == []
