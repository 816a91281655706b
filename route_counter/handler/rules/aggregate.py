"""A batch of access-log lines as increments: per route, everything its lines add (one write each), and per
API key, month and route, the requests for usage billing. Pure.

A metered route is the source's name in front of the API's own route: the ``shop`` API's ``GET
/users/{id}`` counts under ``/shop/users/{id}``. The route is the line's template where API Gateway
matched one, else (a catch-all: ``$default``, ``/{proxy+}``) the request path through the counter's own
route rules (normalisation, ``routeTemplates``, ``allowPrefixes``, ``maxRouteBytes``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from ..rules import accesslog, buckets, schema
from ..rules.routes import RouteError, RouteRules

# A request time outside [API Gateway's launch, now + a day] cannot be real: such a line is refused (a
# bucket, firstSeen or expires from it would be nonsense, and past year 9999 no calendar holds it).
API_GATEWAY_LAUNCH = 1436400000  # 2015-07-09T00:00:00Z, the day API Gateway became generally available
FUTURE_SLACK = buckets.DAY


@dataclass
class Increments:
    """What a set of requests adds to one route's item."""

    count: int = 0
    methods: Counter[str] = field(default_factory=Counter)  # by schema.recorded_method: at most 8
    hours: Counter[int] = field(default_factory=Counter)  # hour index -> requests
    days: Counter[int] = field(default_factory=Counter)  # day index (the stack's days) -> requests
    statuses: Counter[str] = field(default_factory=Counter)  # "2xx" -> requests
    first: float = float("inf")  # the earliest and latest request times
    last: float = float("-inf")

    def add(self, line: accesslog.LogLine, days: buckets.Days) -> None:
        self.count += 1
        self.methods[schema.recorded_method(line.method)] += 1
        self.hours[int(line.t // buckets.HOUR)] += 1
        self.days[days.day(line.t)] += 1
        self.statuses[line.status_class] += 1
        self.first, self.last = min(self.first, line.t), max(self.last, line.t)


@dataclass
class Batch:
    routes: dict[str, Increments] = field(default_factory=dict)
    usage: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (month, key id, route) -> requests
    unparsed: list[str] = field(default_factory=list)  # ids of lines that are not access-log lines
    # (id, why) of lines whose route the rules refuse (outside allowPrefixes, too long, bad characters), or
    # whose time cannot be real: the reason never quotes the line
    refused: list[tuple[str, str]] = field(default_factory=list)
    lines: int = 0


def month_of(t: float) -> str:
    """The UTC month of a request ("2026-11"): usage is billed per calendar month in UTC."""
    return time.strftime("%Y-%m", time.gmtime(t))


def route_of(line: accesslog.LogLine, source: str, rules: RouteRules) -> str:
    """The metered route of a line; RouteError when the rules refuse it."""
    # A template is the API's own route: normalised and size-checked only. allowPrefixes and routeTemplates
    # are the counter's rules for raw paths, so they apply to catch-all lines alone (docs/metering.md).
    own = rules.canonical(line.template, encoded=False) if line.template else rules.resolve(line.path)
    route = f"/{source}" if own == "/" else f"/{source}{own}"
    if len(route.encode("utf-8")) > rules.max_bytes:
        raise RouteError(414, "route_too_long", f"route is longer than {rules.max_bytes} bytes")
    return route


def plausible(t: float, now: float) -> bool:
    """Whether a request time can be real as of ``now``."""
    return API_GATEWAY_LAUNCH <= t <= now + FUTURE_SLACK


def aggregate(events: Iterable[tuple[str, str]], source: str, rules: RouteRules, days: buckets.Days,
              now: float) -> Batch:
    """Fold (event id, message) pairs of one source into a Batch. No line raises: each one is counted,
    unparsed or refused, so one hostile line never stops the rest of its delivery."""
    batch = Batch()
    for event_id, message in events:
        batch.lines += 1
        line = accesslog.parse(message)
        if line is None:
            batch.unparsed.append(event_id)
            continue
        if not plausible(line.t, now):
            batch.refused.append((event_id, "requestTime before API Gateway existed" if line.t < API_GATEWAY_LAUNCH
                                  else "requestTime more than a day ahead"))
            continue
        try:
            route = route_of(line, source, rules)
        except RouteError as exc:
            batch.refused.append((event_id, exc.message))
            continue
        batch.routes.setdefault(route, Increments()).add(line, days)
        if line.api_key:
            batch.usage[(month_of(line.t), line.api_key, route)] += 1
    return batch
