"""A route's count is the sum of its parts: which items hold a route, and how they add up. Pure.

DynamoDB serves one partition key value at most 1,000 write units a second. So a route may live in
several items ("parts"), each written only by its own writers, and every reader sums them:

- The **head**: the item keyed by the route itself (``/a/b``). A cold route is its head alone, and a hit
  costs one request and one write unit, as it always has.
- **Hot parts**: when DynamoDB throttles a route's head, the counter registers ``parts`` (how many) and
  ``gen`` (a generation token) on the head, then spreads hits over ``~REGION~GEN.I/a/b``, I = 1..parts.
  Readers find them through the head, so no reader ever scans for them. A head that TTL deletes, or that
  ``delete`` or ``import`` replaces, takes its generation with it: parts of an old generation are never
  read again.
- **Region heads** (``replicaRegions``): on a global table the home region writes the head, each other
  region its own head ``~REGION/a/b`` (and its own hot parts). Last-writer-wins replication therefore never
  meets two writers of one item.

Every key that is not a route starts with ``~`` or ``!``; a route always starts with ``/``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

from ..rules import schema

PARTS = "parts"  # N, on a head: its hot parts are 1..parts (only ever grows)
GEN = "gen"  # S, on a head: the generation its hot parts are keyed by
MAX_PARTS = 64  # 64,000 write units a second for one route, per region
FIRST_PARTS = 4  # a head's first throttle spreads its hits over this many parts; each further one doubles it
PART_MARK, CLAIM_MARK = "~", "!"
# Room the longest part key needs beyond the route: "~" region "~" generation "." index.
KEY_OVERHEAD = 1 + 32 + 1 + 12 + 1 + 3


class Part(NamedTuple):
    route: str
    region: str  # "" for the home region's head
    gen: str  # "" for a head
    number: int  # 0 for a head


def is_route(key: str) -> bool:
    """Whether a stored key is a route's head in the home region (what a plain listing shows)."""
    return key.startswith("/")


def head_key(route: str, region: str = "") -> str:
    """The head of a route in a region ("" or the home region: the route itself)."""
    return f"{PART_MARK}{region}{route}" if region else route


def part_key(route: str, region: str, gen: str, index: int) -> str:
    return f"{PART_MARK}{region}{PART_MARK}{gen}.{index}{route}"


def parse(key: str) -> Part | None:
    """What a stored key holds, or None for a key that is no route's (an idempotency claim)."""
    if key.startswith("/"):
        return Part(key, "", "", 0)
    if not key.startswith(PART_MARK) or "/" not in key:
        return None
    meta, slash, rest = key[1:].partition("/")
    region, _, tail = meta.partition(PART_MARK)
    route = slash + rest
    if not tail:
        return Part(route, region, "", 0)
    gen, _, index = tail.rpartition(".")
    return Part(route, region, gen, int(index)) if index.isdigit() and gen else None


def hot_keys(route: str, region: str, head: Mapping[str, Any]) -> list[str]:
    """The keys of the hot parts a head lists (none for a cold route)."""
    n = int(head.get(PARTS, {}).get("N", "0"))
    gen = head.get(GEN, {}).get("S", "")
    return [part_key(route, region, gen, i) for i in range(1, n + 1)] if gen else []


def region_of(head: Mapping[str, Any], home: str) -> str:
    """The region label a stored head belongs to ("" for the home region's)."""
    found = parse(head[schema.KEY]["S"])
    return found.region if found and found.region != home else ""


def merge(route: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parts of one route as one item: numbers summed, firstSeen the earliest, lastSeen and expires the
    latest; the bookkeeping (parts, gen) dropped."""
    numbers: dict[str, int] = {}
    first: list[str] = []
    last: list[str] = []
    expires = 0
    for item in items:
        for name, value in item.items():
            if name in (PARTS, GEN, schema.KEY):
                continue
            if name == schema.FIRST_SEEN:
                first.append(value["S"])
            elif name == schema.LAST_SEEN:
                last.append(value["S"])
            elif name == schema.EXPIRES:
                expires = max(expires, int(value["N"]))
            elif "N" in value:
                numbers[name] = numbers.get(name, 0) + int(value["N"])
    merged: dict[str, Any] = {schema.KEY: {schema.KEY_TYPE: route}}
    merged.update({name: {"N": str(n)} for name, n in numbers.items()})
    if first:
        merged[schema.FIRST_SEEN] = {"S": min(first)}
    if last:
        merged[schema.LAST_SEEN] = {"S": max(last)}
    if expires:
        merged[schema.EXPIRES] = {"N": str(expires)}
    return merged


def register_request(table: str, key: str, n: int, gen: str, t: float, expires: int | None) -> dict[str, Any]:
    """Make a head list n hot parts (never fewer than it lists already) and a generation (kept if it has
    one). Creates the head if need be, so a route that is hot from its first hit still has one. Safe to
    re-send: it is a conditional SET. ALL_NEW tells the writer the generation to use."""
    names = {"#p": PARTS, "#g": GEN, "#first": schema.FIRST_SEEN}
    values = {":n": {"N": str(n)}, ":g": {"S": gen}, ":now": {"S": schema.iso(t)}}
    sets = "#p = :n, #g = if_not_exists(#g, :g), #first = if_not_exists(#first, :now)"
    if expires:
        names["#exp"], values[":exp"] = schema.EXPIRES, {"N": str(expires)}
        sets += ", #exp = :exp"
    return {"TableName": table, "Key": schema.key(key), "UpdateExpression": "SET " + sets,
            "ConditionExpression": "attribute_not_exists(#p) OR #p < :n",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values, "ReturnValues": "ALL_NEW"}


def touch_request(table: str, key: str, expires: int) -> dict[str, Any]:
    """Move a hot route's head expiry (routeExpiryDays) while its hits go to the parts."""
    return {"TableName": table, "Key": schema.key(key), "UpdateExpression": "SET #exp = :exp",
            "ConditionExpression": "attribute_exists(#k)",
            "ExpressionAttributeNames": {"#exp": schema.EXPIRES, "#k": schema.KEY},
            "ExpressionAttributeValues": {":exp": {"N": str(expires)}}}
