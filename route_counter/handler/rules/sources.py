"""The metered APIs (``meter``): which log group is which API, by the name its routes count under. Pure and
light: the counter and listing parse it with every setting at init, so it imports nothing heavy."""

from __future__ import annotations

import re

from ..rules.routes import split_list

_NAME = r"[a-z0-9-]{1,32}"  # both compiled on first use (re caches them): only with metering
# CloudWatch Logs log group names: 1-512 of letters, digits, _ - / . and # (CreateLogGroup's pattern).
_LOG_GROUP = r"[.\-_/#A-Za-z0-9]{1,512}"
# A metered API's routes are counted from its logs alone (the counter refuses /NAME/...), so a name must not
# take routes the README and docs show being counted: their examples would answer 404.
EXAMPLE_ROUTES = ("hello", "visits", "login")


def parse_sources(spec: str, counts_path: str = "") -> dict[str, str]:
    """``NAME=LOG_GROUP,...`` as {name: log group}; ValueError naming the entry and what it accepts."""
    found: dict[str, str] = {}
    for entry in split_list(spec):
        name, sep, group = (part.strip() for part in entry.partition("="))
        if not sep or not re.fullmatch(_NAME, name) or not re.fullmatch(_LOG_GROUP, group):
            raise ValueError(f"{entry!r} is not NAME=LOG_GROUP (NAME 1-32 of a-z, 0-9 and -; LOG_GROUP a log group name)")
        if name in found or group in found.values():
            raise ValueError(f"{entry!r}: each name and each log group may appear once")
        if name == counts_path:
            raise ValueError(f"{entry!r}: {name} is the listing's path (countsPath)")
        if name in EXAMPLE_ROUTES:
            raise ValueError(f"{entry!r}: /{name} is a counted route in the README's examples; pick another name")
        found[name] = group
    return found


def parse_names(spec: str) -> tuple[str, ...]:
    """``NAME,...``: the metered APIs' names alone (the counter's METERED), each as parse_sources checks it."""
    names = tuple(split_list(spec))
    bad = [name for name in names if not re.fullmatch(_NAME, name)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a metered API's name (1-32 of a-z, 0-9 and -)")
    return names
