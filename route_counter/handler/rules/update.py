"""The one write of a hit: builds the single ``UpdateItem`` from the rules, and reads what it returned. Pure.

One request per counted hit, and per rate-limited hit (its condition fails: nothing is written):
``ADD`` 1 to the total, the method's count, the hour and day buckets, the viewer country's count, a
short rate window's counter and, for a new visitor, ``visitors`` and its day (a listed crawler's hit
adds to ``bots`` alone); ``SET`` lastSeen (and firstSeen once); ``REMOVE`` the buckets and window
counters that have just expired. With a rate limit, the condition lets the hit through only while the
window's count is under the limit. ``ReturnValues=ALL_NEW`` hands back the item, so the counter learns
the new total, what is left of the window, and any bucket an idle gap left behind (``cleanup_request``,
the one exception to one request per hit, and rare: docs/data-model.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from ..rules import buckets, limits, schema
from ..rules.limits import Limit

if TYPE_CHECKING:  # only the meter builds increments: kept out of the counter's cold start
    from ..rules.aggregate import Increments

MAX_CLEANUP = 100  # names one cleanup removes; anything beyond goes with the next


class Hit(NamedTuple):
    route: str
    method: str
    t: float  # when, seconds since the epoch
    limit: Limit | None = None  # the route's rate limit
    country: str | None = None  # the country attribute to add to ("c:DE"), counted only on EDGE
    bot: bool = False  # a listed crawler's hit (countBots): counted in "bots" only
    new_visitor: bool = False  # the first hit of this visitor on this route today (uniqueVisitors)
    expiry_days: int = 0  # routeExpiryDays: a counted hit moves the route's TTL to t + this many days
    days: buckets.Days = buckets.UTC  # the stack's calendar days (timezone)


class Applied(NamedTuple):
    total: int  # the route's new total
    remaining: int | None  # hits left in the rate window (None: no limit)
    leftovers: list[str]  # expired attributes still in the item


def hit_request(table: str, hit: Hit, key: str | None = None) -> dict[str, Any]:
    """The UpdateItem arguments for one hit: atomic ADDs, never read-then-write. ``key``: the item it goes
    to when not the route's head (a hot part: handler/rules/parts.py)."""
    hour, day = buckets.current(hit.t, hit.days)
    if hit.bot:  # a bot's hit is in "bots" alone: not in count, methods, buckets, countries or visitors
        adds = [schema.BOTS]
    else:
        adds = [schema.COUNT, schema.method_attribute(hit.method), hour, day]
        if hit.country:
            adds.append(hit.country)
        if hit.new_visitor:
            adds += [schema.VISITORS, buckets.visitors_of(day)]
    removes = buckets.swept(hit.t, visitors=hit.new_visitor, days=hit.days)
    condition = None
    if hit.limit:
        counter = hit.limit.counter(hit.t, hit.days)  # 1h/1d limits count in the hour/day bucket itself
        if counter not in adds and not hit.bot:
            adds.append(counter)
            removes += hit.limit.swept(hit.t)
        # A bot's hit must find the window open too, but does not fill it (its hits are not counted).
        at = f"#a{adds.index(counter)}" if counter in adds else "#w"
        condition = f"attribute_not_exists({at}) OR {at} < :limit"
    names = {"#last": schema.LAST_SEEN, "#first": schema.FIRST_SEEN}
    # A bot's hit (countBots) never keeps a route alive: crawlers probe exactly the junk routes expiry is for.
    expires = int(hit.t) + hit.expiry_days * buckets.DAY if hit.expiry_days and not hit.bot else None
    if expires or not hit.expiry_days:
        names["#exp"] = schema.EXPIRES
    if not hit.expiry_days:
        # Expiry off: a date an earlier setting left goes with the next hit (the table keeps TTL on for
        # Idempotency-Key claims, so a stale date would still delete the route).
        removes = [*removes, "#exp"]
    names.update({f"#a{i}": name for i, name in enumerate(adds)})
    names.update({f"#r{i}": name for i, name in enumerate(removes) if name != "#exp"})
    if condition and "#w" in condition and hit.limit:
        names["#w"] = hit.limit.counter(hit.t, hit.days)
    expression = (
        "ADD " + ", ".join(f"#a{i} :one" for i in range(len(adds)))
        + " SET #last = :now, #first = if_not_exists(#first, :now)" + (", #exp = :exp" if expires else "")
        + (" REMOVE " + ", ".join(r if r == "#exp" else f"#r{i}" for i, r in enumerate(removes)) if removes else "")
    )
    values = {":one": {"N": "1"}, ":now": {"S": schema.iso(hit.t)}}
    if expires:
        values[":exp"] = {"N": str(expires)}
    request = {
        "TableName": table,
        "Key": schema.key(key or hit.route),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if condition and hit.limit:
        request["ConditionExpression"] = condition
        values[":limit"] = {"N": str(hit.limit.quota)}
    return request


def applied(hit: Hit, item: Mapping[str, Mapping[str, str]]) -> Applied:
    """What the update's ALL_NEW answer says: the total, the window's remainder, expired leftovers."""
    remaining = None
    if hit.limit:
        used = item.get(hit.limit.counter(hit.t, hit.days), {}).get("N", "0")
        remaining = hit.limit.quota - int(used)
    stale = buckets.leftovers(item.keys(), hit.t, hit.days) + limits.leftovers(item.keys(), hit.limit, hit.t)
    return Applied(int(item.get(schema.COUNT, {}).get("N", "0")), remaining, stale)


def cleanup_request(table: str, route: str, names: list[str]) -> dict[str, Any]:
    """REMOVE expired attributes (idempotent, so safe to re-send); never recreates a deleted item."""
    names = names[:MAX_CLEANUP]
    return {
        "TableName": table,
        "Key": schema.key(route),
        "UpdateExpression": "REMOVE " + ", ".join(f"#r{i}" for i in range(len(names))),
        "ConditionExpression": "attribute_exists(#k)",
        "ExpressionAttributeNames": {"#k": schema.KEY, **{f"#r{i}": name for i, name in enumerate(names)}},
    }


def increments_request(table: str, route: str, inc: Increments, now: float, days: buckets.Days,
                       expiry_days: int = 0, stale: list[str] | None = None) -> dict[str, Any]:
    """The one update of a route for a batch of metered requests (an ``Update`` of TransactWriteItems):
    ADD each total at once (count, methods, status classes, the hour and day buckets of the REQUEST times
    still in the retained range as of ``now``), SET lastSeen to the latest request and firstSeen once,
    and REMOVE what a hit sweeps plus the ``stale`` buckets the item was seen to hold (the meter reads
    the chunk's items first, so an idle gap leaves nothing behind: see handler/store/meter.py)."""
    adds: dict[str, int] = {schema.COUNT: inc.count}
    adds.update({schema.method_attribute(m): n for m, n in inc.methods.items()})
    adds.update({schema.status_attribute(s): n for s, n in inc.statuses.items()})
    oldest_hour, today = int(now // buckets.HOUR) - buckets.HOURS_KEPT + 1, days.day(now)
    adds.update({buckets.hour_name(h): n for h, n in inc.hours.items() if h >= oldest_hour})
    adds.update({buckets.day_name(d): n for d, n in inc.days.items() if d > today - buckets.DAYS_KEPT})
    removes = sorted({*buckets.swept(now, days=days), *(stale or [])} - set(adds))
    names = {"#last": schema.LAST_SEEN, "#first": schema.FIRST_SEEN}
    names.update({f"#a{i}": name for i, name in enumerate(adds)})
    names.update({f"#r{i}": name for i, name in enumerate(removes)})
    values = {f":a{i}": {"N": str(n)} for i, n in enumerate(adds.values())}
    values.update({":last": {"S": schema.iso(inc.last)}, ":first": {"S": schema.iso(inc.first)}})
    sets = "#last = :last, #first = if_not_exists(#first, :first)"
    if expiry_days:
        names["#exp"] = schema.EXPIRES
        # From the delivery, not its latest line: a late or backfilled line (CloudWatch Logs retries for a
        # day, Lambda for 6 hours more, the dead-letter queue keeps 14 days) never moves expires earlier
        # than the write that makes it, so it can never set a live route's deletion in the past.
        values[":exp"] = {"N": str(int(max(inc.last, now)) + expiry_days * buckets.DAY)}
        sets += ", #exp = :exp"
    expression = ("ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds))) + " SET " + sets
                  + (" REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes))) if removes else ""))
    return {"TableName": table, "Key": schema.key(route), "UpdateExpression": expression,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def usage_request(table: str, month: str, consumer: str, route: str, n: int) -> dict[str, Any]:
    """ADD n requests to one API key's usage of one route in one month (an ``Update`` of the transaction)."""
    from ..rules import meter_schema  # the meter's: a counted hit never loads it
    return {"TableName": table, "Key": meter_schema.usage_key(month, consumer, route),
            "UpdateExpression": "ADD #n :n SET #c = :c, #r = :r",
            "ExpressionAttributeNames": {"#n": meter_schema.USAGE_COUNT, "#c": meter_schema.USAGE_CONSUMER, "#r": meter_schema.USAGE_ROUTE},
            "ExpressionAttributeValues": {":n": {"N": str(n)}, ":c": {"S": consumer}, ":r": {"S": route}}}
