"""Counted downloads and redirects: which routes they are and where they lead. Pure rules, no I/O.

Both settings use one syntax, comma-separated ``ROUTE=TARGET`` (``downloads``: ``/resume.pdf=assets/resume.pdf``,
``redirects``: ``/go/github=https://github.com/you``). The same parser checks the stack config before
anything is created and reads the Lambda environment at init, so both see the same rules: routes are
normalised like every counted route, must be counted under themselves (not swallowed by a template,
outside the allowed prefixes or under the listing path), and appear once across both settings.
A redirect only ever goes to its configured ``https://`` target: nothing from the request reaches it.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from ..rules.routes import RouteError, RouteRules, split_list

DOWNLOAD_PREFIX = "downloads"  # object keys: downloads/<route without its leading slash>
# A filename safe inside `attachment; filename="..."` without escaping, and in a URL query.
_FILENAME = r"[A-Za-z0-9._ ()+-]{1,200}"  # compiled on first use (re caches it): only with downloads
_URL_BAD = r"[\s\x00-\x1f\x7f<>\"\\^`{|}]"  # only with redirects


class Download(NamedTuple):
    route: str
    source: str  # the local file `pulumi up` uploads
    key: str  # its S3 object key
    filename: str  # what the browser saves it as


class Links(NamedTuple):
    downloads: dict[str, Download]
    redirects: dict[str, str]


def _pairs(spec: str | None, what: str, rules: RouteRules) -> list[tuple[str, str]]:
    """``ROUTE=TARGET`` items as (canonical route, target), each route once."""
    pairs: dict[str, str] = {}
    for item in split_list(spec):
        raw_route, sep, target = item.partition("=")
        if not sep or not raw_route.strip() or not target.strip():
            raise ValueError(f"{item!r} is not ROUTE={what}")
        route = _route(rules, raw_route.strip())
        if route in pairs:
            raise ValueError(f"route {route} is listed twice")
        pairs[route] = target.strip()
    return list(pairs.items())


def _route(rules: RouteRules, route: str) -> str:
    if not route.startswith("/"):
        raise ValueError(f"route {route!r} must start with '/'")
    try:
        canonical = rules.canonical(route, encoded=False)
        counted = rules.resolve(canonical, encoded=False)
    except RouteError as exc:
        raise ValueError(f"route {route!r}: {exc.message}") from None
    if counted != canonical:
        raise ValueError(f"route {route!r} would be counted as {counted} (a route template takes it)")
    return canonical


def parse_downloads(spec: str | None, rules: RouteRules) -> dict[str, Download]:
    downloads: dict[str, Download] = {}
    for route, source in _pairs(spec, "LOCAL_FILE", rules):
        filename = source.replace("\\", "/").rsplit("/", 1)[-1]
        if not re.fullmatch(_FILENAME, filename):
            raise ValueError(f"file name {filename!r} may hold only letters, digits, spaces and . _ ( ) + -")
        downloads[route] = Download(route, source, f"{DOWNLOAD_PREFIX}{route}", filename)
    return downloads


def parse_redirects(spec: str | None, rules: RouteRules) -> dict[str, str]:
    redirects: dict[str, str] = {}
    for route, url in _pairs(spec, "URL", rules):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or re.search(_URL_BAD, url):
            raise ValueError(f"target {url!r} of {route} must be an https:// URL")
        redirects[route] = url
    return redirects


def parse_links(downloads: str | None, redirects: str | None, rules: RouteRules) -> Links:
    """Both settings; raises ValueError naming the setting ('downloads: ...' or 'redirects: ...')."""
    try:
        files = parse_downloads(downloads, rules)
    except ValueError as exc:
        raise ValueError(f"downloads: {exc}") from None
    try:
        targets = parse_redirects(redirects, rules)
    except ValueError as exc:
        raise ValueError(f"redirects: {exc}") from None
    both = sorted(set(files) & set(targets))
    if both:
        raise ValueError(f"redirects: route {both[0]} is also a download: a route can't be both")
    return Links(files, targets)


NO_LINKS = Links({}, {})
