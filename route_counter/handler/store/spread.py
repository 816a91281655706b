"""Which item a counted hit goes to (handler/rules/parts.py says what parts are): the one place the write
side chooses. A cold route's hit goes to its head. When DynamoDB throttles the head, this container
registers hot parts on it and moves the hit to one of them at once, without sleeping; for HOT_SECONDS
after its last throttle it sends that route's hits straight to a random part, so the head and the parts
share the load. A throttled part moves the hit to another part; a third throttle in one hit doubles the
parts (up to MAX_PARTS): they are too few. Each container learns on its own: nothing is coordinated but the head's
``parts``, which only grows.

The answer of a hot hit is the route's total as this container last read it (at most READ_EVERY seconds
ago, with one BatchGetItem of the head and parts) plus what its own writes have since returned: never
read on every hit, which at 10,000 hits a second would pass a part's 3,000 read units on its own.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..clock import CLOCK
from ..rules import parts, schema
from ..rules.routes import DYNAMODB_KEY_LIMIT
from ..store.outcomes import ConditionFailed, DynamoFailure
from ..store.writer import call_once_retry_safe

LOGGER = logging.getLogger("route_counter.spread")
HOT_SECONDS = 60.0  # how long a container keeps spreading a route after its last throttle
READ_EVERY = 1.0  # seconds: how old the total a hot hit answers with may be
MAX_MOVES = 8  # throttled attempts one hit may move on from before it answers 503 throttled
WIDEN_AFTER = 3  # throttles in one hit (the head's or a part's, then two parts') that double the parts
MAX_ROUTES = 1024  # hot routes one container remembers (the oldest is forgotten first)


def _random_part(n: int) -> int:
    import secrets  # as in _register

    return 1 + secrets.randbelow(n)


class Hot:
    """What this container knows of one hot route."""

    __slots__ = ("gen", "parts", "until", "totals", "read_at", "touched")

    def __init__(self, gen: str, n: int) -> None:
        self.gen, self.parts = gen, n
        self.until = 0.0  # monotonic time until which hits go straight to the parts
        self.totals: dict[str, int] = {}  # count per key, as last read or written
        self.read_at = float("-inf")
        self.touched = -1  # the day this container last moved the head's expiry


class Spread:
    """One per container (the counter keeps it beside its client)."""

    def __init__(self, region: str = "", pick: Callable[[int], int] | None = None) -> None:
        self.region = region  # "" in the home region; else this region's label (replicaRegions)
        self.hot: dict[str, Hot] = {}
        self._pick = pick or _random_part

    def can_spread(self, route: str) -> bool:
        """Whether the route's part keys fit DynamoDB's key size (a longer route stays in its head)."""
        return len(route.encode("utf-8")) + len(self.region) + parts.KEY_OVERHEAD <= DYNAMODB_KEY_LIMIT

    def head(self, route: str) -> str:
        return parts.head_key(route, self.region)

    def first_key(self, route: str) -> str:
        """Where a hit goes first: a part while the route is hot here, else its head."""
        hot = self.hot.get(route)
        if hot is not None and CLOCK.monotonic() < hot.until:
            return self._part(route, hot, avoid="")
        return self.head(route)

    def _part(self, route: str, hot: Hot, avoid: str) -> str:
        key = avoid
        for _ in range(4):  # a different part from the one just throttled, where there is one
            key = parts.part_key(route, self.region, hot.gen, self._pick(hot.parts))
            if key != avoid:
                break
        return key

    def moved(self, client: Any, table: str, route: str, throttled: str, strikes: int, t: float,
              expires: int | None) -> str:
        """The key to try next after ``throttled`` was throttled (the ``strikes``-th time in this hit):
        registers parts on the head first (more of them after throttles on two parts). Raises DynamoFailure
        when the head cannot be told."""
        hot = self.hot.get(route)
        want = parts.FIRST_PARTS if hot is None else min(parts.MAX_PARTS, hot.parts * 2)
        if hot is None or (strikes >= WIDEN_AFTER and want > hot.parts):
            hot = self._register(client, table, route, want, t, expires)
        hot.until = CLOCK.monotonic() + HOT_SECONDS
        return self._part(route, hot, throttled)

    def _register(self, client: Any, table: str, route: str, n: int, t: float, expires: int | None) -> Hot:
        head = self.head(route)
        import secrets  # only when a route first runs hot: no cold start pays for it

        request = parts.register_request(table, head, n, secrets.token_hex(4), t, expires)
        try:  # idempotent: sent again while certainly not applied, within the write path's budget
            item = call_once_retry_safe(lambda: client.update_item(**request))["Attributes"]
        except ConditionFailed:  # another container listed as many or more: read what it wrote
            read = {"TableName": table, "Key": schema.key(head), "ConsistentRead": True}
            item = call_once_retry_safe(lambda: client.get_item(**read)).get("Item", {})
        return self._remember(route, Hot(item[parts.GEN]["S"], int(item[parts.PARTS]["N"])))

    def _remember(self, route: str, hot: Hot, keep: bool = True) -> Hot:
        known = self.hot.pop(route, None)
        if known is not None and keep:
            hot.totals, hot.read_at, hot.touched = known.totals, known.read_at, known.touched
        elif known is None and len(self.hot) >= MAX_ROUTES:
            del self.hot[next(iter(self.hot))]
        self.hot[route] = hot
        return hot

    def total(self, client: Any, table: str, route: str, key: str, item: dict[str, Any], t: float,
              expires: int | None) -> int:
        """The answer's count for a hit written to ``key``, whose update returned ``item`` (ALL_NEW)."""
        count = int(item.get(schema.COUNT, {}).get("N", "0"))
        hot = self.hot.get(route)
        if parts.PARTS in item:  # the head lists parts: made hot by this container or by others
            gen, n = item[parts.GEN]["S"], int(item[parts.PARTS]["N"])
            if hot is None or hot.gen != gen:
                hot = self._remember(route, Hot(gen, n), keep=hot is not None and hot.gen == gen)
            hot.parts = max(hot.parts, n)
        if hot is None:
            return count
        if key != self.head(route):
            self._touch(client, table, route, hot, t, expires)
        if CLOCK.monotonic() - hot.read_at >= READ_EVERY:
            self._read(client, table, route, hot)
        hot.totals[key] = count  # never older than the write's own answer
        return sum(hot.totals.values())

    def _read(self, client: Any, table: str, route: str, hot: Hot) -> None:
        head = self.head(route)
        keys = [head] + [parts.part_key(route, self.region, hot.gen, i) for i in range(1, hot.parts + 1)]
        request = {"RequestItems": {table: {"Keys": [schema.key(k) for k in keys],
                                            "ProjectionExpression": "#k, #c", "ExpressionAttributeNames":
                                            {"#k": schema.KEY, "#c": schema.COUNT}}}}
        try:
            found = call_once_retry_safe(lambda: client.batch_get_item(**request))
        except DynamoFailure as failure:  # the hit is counted: answer with the total as last read
            LOGGER.warning("hot route total not read", extra={"route": route, "cause": failure.cause})
            return
        for item in found.get("Responses", {}).get(table, []):
            hot.totals[item[schema.KEY]["S"]] = int(item.get(schema.COUNT, {}).get("N", "0"))
        hot.read_at = CLOCK.monotonic()

    def _touch(self, client: Any, table: str, route: str, hot: Hot, t: float, expires: int | None) -> None:
        """routeExpiryDays: while the hits go to the parts, move the head's expiry once a day (a day later
        than a hit would, so a day's gap between touches never deletes a live route)."""
        day = int(t // 86400)
        if not expires or hot.touched == day:
            return
        request = parts.touch_request(table, self.head(route), expires + 86400)
        try:
            call_once_retry_safe(lambda: client.update_item(**request))
            hot.touched = day
        except ConditionFailed:
            hot.touched = day  # the head is gone (deleted): nothing to keep alive
        except DynamoFailure as failure:
            LOGGER.warning("hot route expiry not moved", extra={"route": route, "cause": failure.cause})
