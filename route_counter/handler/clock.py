"""Where the handlers get time: one place, so tests move it (they replace ``CLOCK``) and nothing sleeps.

``time`` is the wall clock (bucket names, rate-limit windows, firstSeen/lastSeen); ``monotonic`` and
``sleep`` drive the write path's retry budget and the listing's cache.
"""

from __future__ import annotations

import time as _time
from typing import Callable, NamedTuple


class Clock(NamedTuple):
    time: Callable[[], float]  # seconds since the epoch, UTC
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]


CLOCK = Clock(_time.time, _time.monotonic, _time.sleep)


def now() -> float:
    """The wall clock, read through CLOCK at call time (so a test's replacement applies)."""
    return CLOCK.time()


def sleep(seconds: float) -> None:
    """Wait, through CLOCK (a test's fake sleep only moves its clock)."""
    CLOCK.sleep(seconds)
