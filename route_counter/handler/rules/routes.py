"""Route rules: how a request path becomes the key it is counted under. Pure functions, no I/O.

Pipeline (``RouteRules.resolve``): percent-decode once -> normalise -> size limit -> reserved paths (the
listing's) -> allowed prefixes -> templates. API Gateway REST APIs hand the Lambda the path still percent-encoded, so decoding happens
here exactly once; ``normalize`` itself never decodes, which is what makes it idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

DYNAMODB_KEY_LIMIT = 2048  # bytes: DynamoDB's maximum partition-key size

# C0 and C1 control characters and DEL; lone surrogates cannot be stored as DynamoDB strings.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Invisible and direction-changing characters (Unicode format Cf: U+200B, U+202E, U+FEFF...; line and
# paragraph separators Zl, Zp) would let one route's name pass for another's on the dashboard and in the CLI.
INVISIBLE = frozenset(("Cf", "Zl", "Zp"))
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PARAM = r"\{[A-Za-z_][A-Za-z0-9_]*\}"  # compiled on first use (re caches it): only with routeTemplates


class RouteError(ValueError):
    """A path that cannot be counted, with the HTTP status and error code to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def printable(route: str) -> str:
    """A stored route as a terminal or page should show it: control, invisible and direction-changing
    characters (and lone surrogates) as ``\\u{202E}``, so one route can never pass for another. The
    dashboard's script does the same."""
    return "".join(f"\\u{{{ord(c):X}}}" if unicodedata.category(c) in _ESCAPED else c for c in route)


_ESCAPED = frozenset(("Cc", "Cs", *INVISIBLE))


def decode(raw: str) -> str:
    """Percent-decode a path once, strictly: malformed escapes or invalid UTF-8 are a 400."""
    if "%" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw):
        raise RouteError(400, "bad_encoding", "path has a malformed percent-escape")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeError:
        raise RouteError(400, "bad_encoding", "path is not valid percent-encoded UTF-8") from None


def normalize(path: str) -> str:
    """Canonical form: one leading slash, no empty, '.' or '..' segments, no trailing slash.

    Unicode is kept as is (no case folding or NFC). Raises RouteError for control characters and for
    invisible or direction-changing ones (Cf, Zl, Zp).
    ``normalize(normalize(p)) == normalize(p)`` for every string p.
    """
    if _FORBIDDEN.search(path) or (not path.isascii() and any(unicodedata.category(c) in INVISIBLE for c in path)):
        raise RouteError(400, "bad_characters", "path contains control, invisible or direction-changing characters")
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    return "/" + "/".join(segments)


class Template(NamedTuple):
    """A route template like ``/users/{id}``: each ``{name}`` matches exactly one segment."""

    pattern: str
    parts: tuple[str | None, ...]  # None marks a parameter segment

    @property
    def literals(self) -> int:
        return sum(part is not None for part in self.parts)

    def matches(self, segments: list[str]) -> bool:
        return len(segments) == len(self.parts) and all(
            part is None or part == segment for part, segment in zip(self.parts, segments, strict=True)
        )


def split_list(spec: str | None) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [item.strip() for item in (spec or "").split(",") if item.strip()]


def parse_templates(spec: str | None) -> tuple[Template, ...]:
    """Parse ``/users/{id},/orders/{id}/items``; the most literal template wins, ties by list order."""
    templates = []
    for pattern in split_list(spec):
        if not pattern.startswith("/") or normalize(pattern) != pattern:
            raise ValueError(f"route template {pattern!r} must be a normalised path starting with '/'")
        parts = tuple(None if re.fullmatch(_PARAM, s) else s for s in pattern.strip("/").split("/") if s)
        if any(part is not None and ("{" in part or "}" in part) for part in parts):
            raise ValueError(f"route template {pattern!r}: a parameter must be a whole segment like {{id}}")
        if all(part is not None for part in parts):
            raise ValueError(f"route template {pattern!r} has no {{parameter}} segment")
        templates.append(Template(pattern, parts))
    return tuple(sorted(templates, key=lambda t: -t.literals))


def parse_prefixes(spec: str | None) -> tuple[str, ...]:
    """Parse ``/api,/docs`` into normalised prefixes; empty means everything is allowed."""
    prefixes = []
    for prefix in split_list(spec):
        if not prefix.startswith("/"):
            raise ValueError(f"allowed prefix {prefix!r} must start with '/'")
        prefixes.append(normalize(prefix))
    return tuple(prefixes)


def under_prefix(route: str, prefix: str) -> bool:
    """Whether a normalised route lies under a prefix, at a segment boundary (/api covers /api/x, not /apix)."""
    return prefix == "/" or route == prefix or route.startswith(prefix + "/")


class RouteRules(NamedTuple):
    """Everything that decides a route's key, parsed once per container."""

    max_bytes: int = DYNAMODB_KEY_LIMIT  # the hard bound; the setting (maxRouteBytes) comes from the stack
    prefixes: tuple[str, ...] = ()
    templates: tuple[Template, ...] = ()
    reserved: tuple[str, ...] = ()  # normalised paths never counted, nor anything under them: the listing's
    # path first, then (the counter's only) the metered APIs' names

    def canonical(self, path: str, encoded: bool = True) -> str:
        """Decode (when still percent-encoded), normalise and size-check; no prefix or template rules."""
        route = normalize(decode(path) if encoded else path)
        if len(route.encode("utf-8")) > self.max_bytes:
            raise RouteError(414, "route_too_long", f"route is longer than {self.max_bytes} bytes")
        return route

    def resolve(self, path: str, encoded: bool = True) -> str:
        """The key a path is counted under, or RouteError (400, 404 or 414)."""
        route = self.canonical(path, encoded)
        for index, reserved in enumerate(self.reserved):
            if under_prefix(route, reserved):
                raise RouteError(404, "reserved_route", "this path belongs to the listing and is never counted" if index == 0
                                 else f"{reserved} is a metered API's: only its access logs count it")
        if self.prefixes and not any(under_prefix(route, p) for p in self.prefixes):
            raise RouteError(404, "route_not_counted", "route is outside the allowed prefixes")
        if self.templates:
            segments = route.strip("/").split("/") if route != "/" else []
            for template in self.templates:
                if template.matches(segments):
                    return template.pattern
        return route
