"""Time buckets inside a route's own item: names, retention, what each hit removes, series and window sums.

Pure. A hit ADDs 1 to its hour's bucket and its day's, and the same update REMOVEs the buckets that have
just left the retained range, so an item stays bounded however long a route lives. Buckets live in the
item, not in items of their own, because that keeps a hit at ONE UpdateItem (docs/data-model.md).

Names are short because an update is billed by the item's size in whole KB: ``h`` or ``d`` and the hour
or day since the epoch in four base-36 digits (``haou5`` is 2026-11-24T05, ``d0g19`` is 2026-11-24;
records show them as "2026-11-24T05" and "2026-11-24"). A busy route's item stays under 1 KB that way,
one write unit per hit, where "h:2026112405"-style names would cost two.

Kept: the hourly buckets of the last 48 hours (49: the current hour and the 48 before it) and the daily
buckets of the last 31 days (32: today and the 31 before), UTC. Each hit removes the 6 hourly and 4 daily
buckets just past that range; a bucket older than that survives only an idle gap longer than that (6 hours,
4 days), and the counter then sends one cleanup (``leftovers``). Why not sweep more: every name makes the
request bigger and slower to evaluate (moto, which `make dev` and the tests run, slows by 3x going from
10 names to 55), while a route hit every few hours costs one cleanup per gap either way. Names are fixed width (until the year 2161), so string
order is time order: a bucket ahead of this container's clock (another container a few ms ahead) is
never taken for an old one.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Iterable, Mapping

HOUR, DAY = 3600, 86400
HOURLY, DAILY, VISITOR_DAILY = "h", "d", "v"  # "v": distinct visitors per day (uniqueVisitors)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # ASCII order is numeric order
_WIDTH = 4
HOURS_KEPT, DAYS_KEPT = 49, 32
HOURS_SWEPT, DAYS_SWEPT = 6, 4

# window -> (bucket kind, how many buckets back from the current one, the current one included)
WINDOWS = {"1h": (HOURLY, 1), "24h": (HOURLY, 24), "7d": (DAILY, 7), "30d": (DAILY, 30)}


def _base36(n: int) -> str:
    digits = ""
    while n:
        n, d = divmod(n, 36)
        digits = _DIGITS[d] + digits
    return digits.rjust(_WIDTH, "0")


@lru_cache(maxsize=256)  # a warm container names the same few buckets on every hit
def hour_name(index: int) -> str:
    """The attribute of the hour ``index`` hours after the epoch."""
    return HOURLY + _base36(index)


@lru_cache(maxsize=256)
def day_name(index: int) -> str:
    """The attribute of the day ``index`` days after the epoch."""
    return DAILY + _base36(index)


def visitors_of(day_bucket: str) -> str:
    """The visitors bucket of a day bucket ("d0g19" -> "v0g19")."""
    return VISITOR_DAILY + day_bucket[1:]


def is_bucket(name: str) -> bool:
    return len(name) == 1 + _WIDTH and name[0] in (HOURLY, DAILY, VISITOR_DAILY) and all(c in _DIGITS for c in name[1:])


def is_hit_bucket(name: str) -> bool:
    """An hourly or daily hit bucket (not a visitors one)."""
    return is_bucket(name) and name[0] != VISITOR_DAILY


def current(t: float) -> tuple[str, str]:
    """The hour and day buckets a hit at time t adds to."""
    return hour_name(int(t // HOUR)), day_name(int(t // DAY))


def swept(t: float, visitors: bool = False) -> list[str]:
    """The buckets a hit at time t removes: those that have just left the retained range (with
    ``visitors``, the visitor buckets too: only a new visitor's hit writes those)."""
    hour, day = int(t // HOUR), int(t // DAY)
    days = [day_name(i) for i in range(day - DAYS_KEPT - DAYS_SWEPT + 1, day - DAYS_KEPT + 1)]
    hours = [hour_name(i) for i in range(hour - HOURS_KEPT - HOURS_SWEPT + 1, hour - HOURS_KEPT + 1)]
    return hours + days + ([visitors_of(d) for d in days] if visitors else [])


def _oldest_kept(t: float) -> tuple[str, str]:
    return hour_name(int(t // HOUR) - HOURS_KEPT + 1), day_name(int(t // DAY) - DAYS_KEPT + 1)


def leftovers(names: Iterable[str], t: float) -> list[str]:
    """Bucket names older than the retained range (left by an idle gap longer than a hit sweeps)."""
    oldest_hour, oldest_day = _oldest_kept(t)
    oldest = {HOURLY: oldest_hour, DAILY: oldest_day, VISITOR_DAILY: visitors_of(oldest_day)}
    return sorted(n for n in names if is_bucket(n) and n < oldest[n[0]])


def hourly(numbers: Mapping[str, int], t: float) -> dict[str, int]:
    """The retained hourly series as ``{"2026-11-24T05": 3}``, oldest first, zero buckets left out."""
    hour = int(t // HOUR)
    names = ((hour_name(i), i) for i in range(hour - HOURS_KEPT + 1, hour + 1))
    return {time.strftime("%Y-%m-%dT%H", time.gmtime(i * HOUR)): numbers[n] for n, i in names if numbers.get(n)}


def daily(numbers: Mapping[str, int], t: float, kind: str = DAILY) -> dict[str, int]:
    """The retained daily series as ``{"2026-11-24": 12}``, oldest first, zero buckets left out (``kind``
    VISITOR_DAILY: the visitors per day)."""
    day = int(t // DAY)
    names = ((kind + day_name(i)[1:], i) for i in range(day - DAYS_KEPT + 1, day + 1))
    return {time.strftime("%Y-%m-%d", time.gmtime(i * DAY)): numbers[n] for n, i in names if numbers.get(n)}


def window_count(numbers: Mapping[str, int], window: str, t: float) -> int:
    """Hits in a window: ``1h`` the current hour, ``24h`` the last 24 hourly buckets, ``7d``/``30d`` the last
    7/30 daily buckets, the current one included each time. KeyError for an unknown window."""
    kind, span = WINDOWS[window]
    if kind == HOURLY:
        hour = int(t // HOUR)
        return sum(numbers.get(hour_name(i), 0) for i in range(hour - span + 1, hour + 1))
    day = int(t // DAY)
    return sum(numbers.get(day_name(i), 0) for i in range(day - span + 1, day + 1))

