"""A route's item over time, without a server: DynamoDB's item-size rules, and the counter's own update
requests applied to an in-memory item, so 20,000 hits over 120 simulated days take a second.

``apply_update`` understands exactly the expressions handler/rules/update.py builds (ADD, SET with
if_not_exists, REMOVE, and the two conditions) and refuses anything else; tests/test_buckets.py checks it
against moto on the same requests, so the simulation is the counter's real behaviour.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Iterable, NamedTuple

from route_counter.handler.rules import schema, update
from route_counter.handler.rules.limits import Limit

Item = dict[str, dict[str, str]]
_CLAUSE = re.compile(r"(ADD|SET|REMOVE) (.*?)(?= (?:ADD|SET|REMOVE) |$)")
_ADD = re.compile(r"^(#\w+) (:\w+)$")
_SET = re.compile(r"^(#\w+) = (?:(:\w+)|if_not_exists\((#\w+), (:\w+)\))$")
_NOT_EXISTS_OR_LESS = re.compile(r"^attribute_not_exists\((#\w+)\) OR (#\w+) < (:\w+)$")
_EXISTS = re.compile(r"^attribute_exists\((#\w+)\)$")


class ConditionFailed(Exception):
    pass


number_size, item_size = schema.number_size, schema.item_size  # DynamoDB's size rules live in the schema


def apply_update(item: Item | None, request: dict[str, Any]) -> Item:
    """The item after the UpdateItem ``request``, as DynamoDB computes it. Raises ConditionFailed."""
    names, values = request.get("ExpressionAttributeNames", {}), request.get("ExpressionAttributeValues", {})
    old = item or {}
    condition = request.get("ConditionExpression")
    if condition:
        if m := _NOT_EXISTS_OR_LESS.match(condition):
            target = names[m[1]]
            assert m[1] == m[2]
            ok = target not in old or Decimal(old[target]["N"]) < Decimal(values[m[3]]["N"])
        elif m := _EXISTS.match(condition):
            ok = names[m[1]] in old
        else:
            raise ValueError(f"condition not understood: {condition}")
        if not ok:
            raise ConditionFailed(condition)
    new = dict(old)  # values are never changed in place, only replaced
    new.update(request["Key"])
    touched: list[str] = []
    expression = request["UpdateExpression"]
    clauses = _CLAUSE.findall(expression)
    if " ".join(f"{k} {v}" for k, v in clauses) != expression:
        raise ValueError(f"expression not understood: {expression}")
    for keyword, body in clauses:
        for action in re.split(r", (?![^()]*\))", body):  # commas outside if_not_exists(...)
            if keyword == "ADD":
                m = _ADD.match(action)
                if not m:
                    raise ValueError(action)
                name = names[m[1]]
                new[name] = {"N": str(Decimal(new.get(name, {"N": "0"})["N"]) + Decimal(values[m[2]]["N"]))}
            elif keyword == "SET":
                m = _SET.match(action)
                if not m:
                    raise ValueError(action)
                name = names[m[1]]
                if m[2]:
                    new[name] = values[m[2]]
                elif names[m[3]] not in old:
                    new[name] = values[m[4]]
            else:
                name = names[action]
                new.pop(name, None)
            if name in touched:
                raise ValueError(f"Two document paths overlap: {name}")  # DynamoDB refuses such an update
            touched.append(name)
    return new


class Simulation(NamedTuple):
    item: Item
    hits: int
    max_bytes: int
    max_write_units: int
    cleanups: int  # second requests, each removing what an idle gap left behind


def simulate(route: str, times: Iterable[float], limit: Limit | None = None, method: str = "GET") -> Simulation:
    """Replay hits through the counter's own requests: the hit's update, then a cleanup when it asks for one."""
    item: Item | None = None
    hits = max_bytes = max_units = cleanups = size = 0
    for t in times:
        hit = update.Hit(route, method, t, limit)
        try:
            after = apply_update(item, update.hit_request("t", hit))
        except ConditionFailed:
            continue
        after_size = item_size(after)
        # An update's write units: the larger of the item before and after, per KB rounded up.
        max_units = max(max_units, math.ceil(max(size, after_size) / 1024))
        max_bytes = max(max_bytes, after_size)
        item, hits, size = after, hits + 1, after_size
        left = update.applied(hit, item).leftovers
        if left:
            cleanups += 1
            item = apply_update(item, update.cleanup_request("t", route, left))
            size = item_size(item)
    assert item is not None and item[schema.COUNT]["N"] == str(hits)
    return Simulation(item, hits, max_bytes, max_units, cleanups)


def steady_item(rate: float, days: int = 365, *, visitors: float = 0.0, countries: int = 0, methods: int = 1,
                route: str = "/blog/2026/11/how-we-count-every-hit") -> int:
    """The size of a route's item after ``days`` at ``rate`` hits a second over ``methods`` methods, by DynamoDB's rules:
    the kept hour and day buckets full, the totals at their size then, and with ``visitors`` (distinct
    visitors a day) the visitor total and days, with ``countries`` that many country counts. A write
    costs one unit per KB of the larger item, so this says when a busy route's hit costs a second unit."""
    from route_counter.handler.rules import buckets, countries as country_codes

    t, total = 1_800_000_000.0, int(rate * days * buckets.DAY)
    hour, day = buckets.current(t)
    hours = [buckets.hour_name(int(t // buckets.HOUR) - i) for i in range(buckets.HOURS_KEPT)]
    day_index = buckets.UTC.day(t)
    day_names = [buckets.day_name(day_index - i) for i in range(buckets.DAYS_KEPT)]
    numbers = {schema.COUNT: total}
    numbers.update({schema.method_attribute(m): total // methods for m in schema.COUNTED_METHODS[:methods]})
    numbers.update({name: int(rate * buckets.HOUR) for name in hours})
    numbers.update({name: int(rate * buckets.DAY) for name in day_names})
    if visitors:
        numbers[schema.VISITORS] = int(visitors * days)
        numbers.update({buckets.visitors_of(name): int(visitors) for name in day_names})
    for code in sorted(country_codes.CODES)[:countries]:
        numbers[country_codes.COUNTRY_PREFIX + code] = total // max(countries, 1)
    item = {schema.KEY: {"S": route}, schema.FIRST_SEEN: {"S": schema.iso(t)}, schema.LAST_SEEN: {"S": schema.iso(t)},
            **{name: {"N": str(n)} for name, n in numbers.items()}}
    return item_size(item)


def steady_sizes() -> dict[str, int]:
    """A busy route's item (a year at 1,000 hits/s on a 36-byte route) as options add to it: when a hit
    starts to cost a second write unit (docs/data-model.md quotes these)."""
    return {"GET only": steady_item(1000), "6 methods": steady_item(1000, methods=6),
            "6 methods, uniqueVisitors (100,000 a day)": steady_item(1000, methods=6, visitors=100_000),
            "GET only, 200 countries": steady_item(1000, countries=200)}
