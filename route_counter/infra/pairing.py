"""A RouteCounter whose table an ApiMeter writes into must leave that ApiMeter's routes alone (404
``reserved_route``), exactly as for the names its own ``meter`` key meters; else it would count public hits
on ``/shop/...`` into the metered routes.

The counter's ``METERED`` is part of its function's environment, declared when the RouteCounter is made,
before any ApiMeter that is given its table. So the RouteCounter names them (``api_meter_sources``), and
the ApiMeter checks it was told: one line at preview, never a silent mix. (A value settled later cannot be
had: any synchronous invoke in between runs Pulumi's event loop.)
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable, NamedTuple


class Pairing(NamedTuple):
    owner: str  # the RouteCounter's name
    own: frozenset[str]  # what its own metering meters (meter, meterLogGroup, meter_log_groups)
    left: frozenset[str]  # what it leaves to an ApiMeter (api_meter_sources)


_BY_TABLE: weakref.WeakKeyDictionary[Any, Pairing] = weakref.WeakKeyDictionary()


def register(table: Any, owner: str, own: Iterable[str], left: Iterable[str]) -> None:
    _BY_TABLE[table] = Pairing(owner, frozenset(own), frozenset(left))


def problem(table: Any, names: Iterable[str]) -> str | None:
    """Why an ApiMeter metering ``names`` may not write into ``table`` (None: it may)."""
    pairing = _BY_TABLE.get(table)
    if pairing is None:
        return None
    names = set(names)
    taken = sorted(names & pairing.own)
    if taken:
        return f"RouteCounter {pairing.owner} meters {', '.join(taken)} itself (two meters would count it twice)"
    missing = sorted(names - pairing.left)
    if missing:
        listed = ", ".join(repr(n) for n in sorted(pairing.left | set(missing)))
        return (f"RouteCounter {pairing.owner} would count public hits on /{missing[0]}/... into the metered routes: "
                f"make it with api_meter_sources=[{listed}]")
    return None
