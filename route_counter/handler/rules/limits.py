"""Per-route rate limits: parsing ``rateLimits``, matching a route, fixed-window math, header values. Pure.

``PATTERN=COUNT/WINDOW`` entries, comma-separated: PATTERN a route (``/login``), a template
(``/users/{id}``) or a prefix ending in ``/*`` (``/api/*``); WINDOW one of 1s, 1m, 1h, 1d. A route takes
the most specific entry (its own route, else the longest prefix) and gets its own fixed window: ``1s``,
``1m`` and ``1h`` aligned to the epoch (UTC hours), ``1d`` the stack's calendar day (``timezone``).

The window's count lives in the route's item and is checked by the hit's one update (a condition):
``1h`` and ``1d`` windows ARE the hourly and daily buckets (handler/rules/buckets.py), so they cost no extra
attribute; ``1s`` and ``1m`` windows use a ``w:<seconds>:<index>`` number that the next hits remove.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, NamedTuple

from ..rules import buckets
from ..rules.routes import RouteError, normalize, split_list

WINDOWS = {"1s": 1, "1m": 60, "1h": buckets.HOUR, "1d": buckets.DAY}
WINDOW_PREFIX = "w:"
WINDOWS_SWEPT = 5  # a 1s/1m hit removes the counters of the 5 windows before its own
MAX_COUNT = 1_000_000_000
POLICY = "route"  # the policy name in the RateLimit-Policy and RateLimit fields
# Patterns used only when their setting is set are compiled on first use (re caches them): a cold start
# without rate limits never pays for this one.
_ENTRY = r"(?P<pattern>/[^=]*)=(?P<count>[0-9]{1,10})/(?P<window>[0-9]+[smhd])"


class Limit(NamedTuple):
    pattern: str  # as configured: "/login", "/users/{id}" or "/api/*"
    quota: int  # hits allowed per window
    window: str  # "1s", "1m", "1h" or "1d"

    @property
    def seconds(self) -> int:
        return WINDOWS[self.window]

    def window_index(self, t: float) -> int:
        return int(t // self.seconds)

    def counter(self, t: float, days: buckets.Days = buckets.UTC) -> str:
        """The attribute holding this window's count for a hit at time t."""
        if self.window == "1h":
            return buckets.hour_name(self.window_index(t))
        if self.window == "1d":
            return buckets.day_name(days.day(t))
        return f"{WINDOW_PREFIX}{self.seconds}:{self.window_index(t)}"

    def swept(self, t: float) -> list[str]:
        """Counters of the windows just before this one, removed by the hit (buckets sweep themselves)."""
        if self.window in ("1h", "1d"):
            return []
        i = self.window_index(t)
        return [f"{WINDOW_PREFIX}{self.seconds}:{j}" for j in range(i - WINDOWS_SWEPT, i)]

    def reset(self, t: float, days: buckets.Days = buckets.UTC) -> int:
        """Whole seconds until this window ends (at least 1): Retry-After and the RateLimit ``t``."""
        end = days.start(days.day(t) + 1) if self.window == "1d" else (self.window_index(t) + 1) * self.seconds
        return max(1, math.ceil(end - t))

    def headers(self, remaining: int, t: float, days: buckets.Days = buckets.UTC) -> dict[str, str]:
        """The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): quota and what is left."""
        return {
            "RateLimit-Policy": f'"{POLICY}";q={self.quota};w={self.seconds}',
            "RateLimit": f'"{POLICY}";r={max(0, remaining)};t={self.reset(t, days)}',
        }


class RateLimits(NamedTuple):
    exact: Mapping[str, Limit]
    prefixes: tuple[tuple[str, Limit], ...]  # (prefix, limit), longest prefix first

    def match(self, route: str) -> Limit | None:
        """The most specific limit for a counted route: its own entry, else the longest matching prefix."""
        if route in self.exact:
            return self.exact[route]
        for prefix, limit in self.prefixes:
            if prefix == "/" or route == prefix or route.startswith(prefix + "/"):
                return limit
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)


NO_LIMITS = RateLimits({}, ())


def leftovers(names: Iterable[str], limit: Limit | None, t: float) -> list[str]:
    """1s/1m window counters that no longer matter: older windows, or windows of a size no longer in use.
    A counter ahead of this container's clock (another container a little ahead) is kept."""
    keep = (str(limit.seconds), limit.window_index(t)) if limit and limit.window in ("1s", "1m") else None
    stale = []
    for name in names:
        if not name.startswith(WINDOW_PREFIX):
            continue
        seconds, _, index = name[len(WINDOW_PREFIX):].partition(":")
        if keep and seconds == keep[0] and index.isdigit() and int(index) >= keep[1]:
            continue
        stale.append(name)
    return sorted(stale)


def parse_rate_limits(text: str) -> RateLimits:
    """Parse ``rateLimits``; ValueError naming the entry and what it accepts."""
    exact: dict[str, Limit] = {}
    prefixes: dict[str, Limit] = {}
    for entry in split_list(text):
        match = re.fullmatch(_ENTRY, entry.replace(" ", ""))
        if not match:
            raise ValueError(f"{entry!r} is not PATTERN=COUNT/WINDOW (e.g. /login=5/1m or /api/*=1000/1h)")
        window = match["window"]
        if window not in WINDOWS:
            raise ValueError(f"{entry!r}: the window must be one of {', '.join(WINDOWS)}")
        count = int(match["count"])
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(f"{entry!r}: the count must be from 1 to {MAX_COUNT}")
        pattern = match["pattern"]
        is_prefix = pattern == "/*" or pattern.endswith("/*")
        path = (pattern[:-2] or "/") if is_prefix else pattern
        try:
            canonical = normalize(path)
        except RouteError:
            raise ValueError(f"{entry!r}: the pattern has control characters") from None
        if canonical != path or "*" in path:
            raise ValueError(f"{entry!r}: the pattern must be a normalised path like /login, /users/{{id}} or /api/*")
        table = prefixes if is_prefix else exact
        if canonical in table:
            raise ValueError(f"{entry!r}: {pattern} is listed twice")
        table[canonical] = Limit(pattern, count, window)
    ordered = tuple(sorted(prefixes.items(), key=lambda item: -len(item[0])))
    return RateLimits(exact, ordered)
