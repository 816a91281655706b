"""Time buckets inside a route's own item: names, retention, what each hit removes, series and window sums.

Pure. A hit ADDs 1 to its hour's bucket and its day's, and the same update REMOVEs the buckets that have
just left the retained range, so an item stays bounded however long a route lives. Buckets live in the
item, not in items of their own, because that keeps a hit at ONE UpdateItem (docs/data-model.md).

Names are short because an update is billed by the item's size in whole KB: ``h`` or ``d`` and the hour
or day since the epoch in four base-36 digits (``haou5`` is 2026-11-24T05, ``d0g19`` is 2026-11-24;
records show them as "2026-11-24T05" and "2026-11-24"). A busy route's item stays under 1 KB that way,
one write unit per hit, where "h:2026112405"-style names would cost two.

Hours are UTC hours, always (a zone's offset need not be whole hours; the dashboard shows them in the
viewer's own time). Days are the calendar days of the stack's ``timezone`` (``Days``, UTC by default):
a day bucket is numbered by its calendar date, so ``d0g19`` is 2026-11-24 in every zone, and a day
between two daylight-saving changes has 23 or 25 hours. A hit's day and everything derived from it (the
daily buckets, 7d/30d windows, 1d rate limits, visitor days) follow the zone; changing the zone later
rewrites nothing: old buckets keep their dates, and the day of the change holds the hits of both zones'
versions of it.

Kept: the hourly buckets of the last 48 hours (49: the current hour and the 48 before it) and the daily
buckets of the last 31 days (32: today and the 31 before). Each hit removes the 6 hourly and 4 daily
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
from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple

if TYPE_CHECKING:
    import datetime

HOUR, DAY = 3600, 86400
HOURLY, DAILY, VISITOR_DAILY = "h", "d", "v"  # "v": distinct visitors per day (uniqueVisitors)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # ASCII order is numeric order
_WIDTH = 4
HOURS_KEPT, DAYS_KEPT = 49, 32
HOURS_SWEPT, DAYS_SWEPT = 6, 4

# window -> (bucket kind, how many buckets back from the current one, the current one included)
WINDOWS = {"1h": (HOURLY, 1), "24h": (HOURLY, 24), "7d": (DAILY, 7), "30d": (DAILY, 30)}
UTC_NAME = "UTC"
_EPOCH_ORDINAL = 719163  # datetime.date(1970, 1, 1).toordinal(): datetime loads only for a non-UTC zone


@lru_cache(maxsize=8)
def zone(name: str) -> datetime.tzinfo:
    """The IANA zone ``name`` (zoneinfo: the system's database, else the ``tzdata`` package the code asset
    ships for a non-UTC zone). ValueError for a name it does not know."""
    import zoneinfo  # only a stack with a timezone pays for the import

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name like Europe/Berlin or America/New_York") from None


class Days(NamedTuple):
    """Calendar days in one IANA zone: which day a moment falls on, and when a day begins. Days are
    numbered by date (days since 1970-01-01), so a number names the same date in every zone."""

    zone: str = UTC_NAME

    def day(self, t: float) -> int:
        """The number of the zone's calendar day at time t."""
        if self.zone == UTC_NAME:
            return int(t // DAY)
        import datetime

        return datetime.datetime.fromtimestamp(t, zone(self.zone)).toordinal() - _EPOCH_ORDINAL

    def start(self, day: int) -> float:
        """When day ``day`` begins in the zone: its midnight, or the end of a daylight-saving gap over it
        (zoneinfo reads a skipped wall time with the offset before the change: the moment of the change)."""
        if self.zone == UTC_NAME:
            return float(day * DAY)
        import datetime

        midnight = datetime.datetime.combine(datetime.date.fromordinal(day + _EPOCH_ORDINAL), datetime.time(),
                                             zone(self.zone))
        return midnight.timestamp()


UTC = Days()


def check_zone(name: str) -> Days:
    """The Days of ``name``, once it is known to be a zone; ValueError otherwise."""
    if name != UTC_NAME:
        zone(name)
    return Days(name)


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


def current(t: float, days: Days = UTC) -> tuple[str, str]:
    """The hour and day buckets a hit at time t adds to."""
    return hour_name(int(t // HOUR)), day_name(days.day(t))


def swept(t: float, visitors: bool = False, days: Days = UTC) -> list[str]:
    """The buckets a hit at time t removes: those that have just left the retained range (with
    ``visitors``, the visitor buckets too: only a new visitor's hit writes those)."""
    hour, day = int(t // HOUR), days.day(t)
    gone = [day_name(i) for i in range(day - DAYS_KEPT - DAYS_SWEPT + 1, day - DAYS_KEPT + 1)]
    hours = [hour_name(i) for i in range(hour - HOURS_KEPT - HOURS_SWEPT + 1, hour - HOURS_KEPT + 1)]
    return hours + gone + ([visitors_of(d) for d in gone] if visitors else [])


def _oldest_kept(t: float, days: Days) -> tuple[str, str]:
    return hour_name(int(t // HOUR) - HOURS_KEPT + 1), day_name(days.day(t) - DAYS_KEPT + 1)


def leftovers(names: Iterable[str], t: float, days: Days = UTC) -> list[str]:
    """Bucket names older than the retained range (left by an idle gap longer than a hit sweeps)."""
    oldest_hour, oldest_day = _oldest_kept(t, days)
    oldest = {HOURLY: oldest_hour, DAILY: oldest_day, VISITOR_DAILY: visitors_of(oldest_day)}
    return sorted(n for n in names if is_bucket(n) and n < oldest[n[0]])


def hourly(numbers: Mapping[str, int], t: float) -> dict[str, int]:
    """The retained hourly series as ``{"2026-11-24T05": 3}``, oldest first, zero buckets left out."""
    hour = int(t // HOUR)
    names = ((hour_name(i), i) for i in range(hour - HOURS_KEPT + 1, hour + 1))
    return {time.strftime("%Y-%m-%dT%H", time.gmtime(i * HOUR)): numbers[n] for n, i in names if numbers.get(n)}


def daily(numbers: Mapping[str, int], t: float, kind: str = DAILY, days: Days = UTC) -> dict[str, int]:
    """The retained daily series as ``{"2026-11-24": 12}`` (the zone's dates), oldest first, zero buckets
    left out (``kind`` VISITOR_DAILY: the visitors per day)."""
    day = days.day(t)
    names = ((kind + day_name(i)[1:], i) for i in range(day - DAYS_KEPT + 1, day + 1))
    return {time.strftime("%Y-%m-%d", time.gmtime(i * DAY)): numbers[n] for n, i in names if numbers.get(n)}


def window_count(numbers: Mapping[str, int], window: str, t: float, days: Days = UTC) -> int:
    """Hits in a window: ``1h`` the current hour, ``24h`` the last 24 hourly buckets, ``7d``/``30d`` the last
    7/30 daily buckets, the current one included each time. KeyError for an unknown window."""
    kind, span = WINDOWS[window]
    if kind == HOURLY:
        hour = int(t // HOUR)
        return sum(numbers.get(hour_name(i), 0) for i in range(hour - span + 1, hour + 1))
    day = days.day(t)
    return sum(numbers.get(day_name(i), 0) for i in range(day - span + 1, day + 1))

