"""Badges: an SVG "visits | 1,234" (or shields.io's endpoint JSON), from a label the request may choose.
Pure; imported only when a badge is asked for, so no other cold start pays for it."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Mapping, NamedTuple

# A badge opened as a page is a document of the API's origin: nothing in it may run or load.
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox"}
MAX_LABEL = 40  # characters of a badge's label
COUNTING_BADGE_CACHE = "no-cache, no-store, max-age=0"  # image proxies (GitHub's camo) fetch it every time


def _xml_char(c: str) -> bool:
    """What XML 1.0 allows in a document (its Char production): no C0 controls but tab and line ends, no
    surrogates, not U+FFFE or U+FFFF."""
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


def badge_label(raw: str | None, default: str = "visits") -> str:
    """A badge label from a query value: control, format and separator characters and anything XML does
    not allow removed (the SVG always parses), capped, never empty."""
    text = "".join(c for c in (raw or "")
                   if _xml_char(c) and unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")).strip()
    return text[:MAX_LABEL].strip() or default


STYLES = ("flat", "flat-square", "for-the-badge")
# shields.io's named colours (and its aliases), so a badge moved from shields keeps its colour.
COLORS = {
    "brightgreen": "#4c1", "green": "#97ca00", "yellowgreen": "#a4a61d", "yellow": "#dfb317", "orange": "#fe7d37",
    "red": "#e05d44", "blue": "#007ec6", "grey": "#555", "gray": "#555", "lightgrey": "#9f9f9f",
    "lightgray": "#9f9f9f", "success": "#4c1", "important": "#fe7d37", "critical": "#e05d44",
    "informational": "#007ec6", "inactive": "#9f9f9f",
}
_HEX = r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"  # compiled on first use (re caches it): a badge with a hex color


class BadgeOptions(NamedTuple):
    color: str = "blue"  # of the count's half: a name of COLORS, or six or three hex digits
    style: str = "flat"
    abbreviated: bool = False  # 1.2k, 3.4M instead of 1,234 and 3,456,789


class BadBadge(ValueError):
    """A badge option the read-only badge refuses (400); the counting badge ignores it instead."""


def badge_options(query: Mapping[str, str], strict: bool) -> BadgeOptions:
    """``color=`` (a shields.io name or hex, ``#`` optional), ``style=`` and ``abbreviated=true`` from a
    query. Unknown values raise BadBadge when ``strict``; otherwise they fall back to the default, so a
    counting badge's hit counts whatever its options say."""
    options: dict[str, Any] = {}
    raw = query.get("color")
    if raw is not None:
        hex_color = re.fullmatch(_HEX, raw.strip())
        name = raw.strip().lower()
        color = name if name in COLORS else (hex_color[1].lower() if hex_color else None)
        if color:
            options["color"] = color
        elif strict:
            raise BadBadge(f"color must be a hex colour like 4c1 or ff8800, or one of {', '.join(sorted(COLORS))}")
    style = query.get("style")
    if style is not None:
        if style in STYLES:
            options["style"] = style
        elif strict:
            raise BadBadge(f"style must be one of {', '.join(STYLES)}")
    abbreviated = query.get("abbreviated")
    if abbreviated is not None:
        if abbreviated in ("true", "false"):
            options["abbreviated"] = abbreviated == "true"
        elif strict:
            raise BadBadge("abbreviated must be true or false")
    return BadgeOptions(**options)


def abbreviate(count: int) -> str:
    """1,234 as 1.2k, 3,456,789 as 3.5M (one decimal under 10 of a unit, none above; 999,999 is 1M)."""
    if count < 1000:
        return str(count)
    for size, unit in ((10**3, "k"), (10**6, "M"), (10**9, "B"), (10**12, "T")):
        value = count / size
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(text) < 1000 or unit == "T":
            return text.removesuffix(".0") + unit
    raise AssertionError("unreachable")


def _text_width(text: str) -> int:
    """Rough pixel width of 11px Verdana, enough to size a badge."""
    return sum(4 if c in "il.,:;|!1 " else 9 if c in "mwMW@" else 7 for c in text) + 10


DEFAULT_OPTIONS = BadgeOptions()


def badge(label: str, count: int, options: BadgeOptions = DEFAULT_OPTIONS) -> tuple[str, dict[str, Any]]:
    """An SVG badge "label | 1,234" in one of the styles, and the JSON shields.io's endpoint badge reads."""
    message = abbreviate(count) if options.abbreviated else f"{count:,}"
    tall = options.style == "for-the-badge"
    shown_label, shown_message = (label.upper(), message.upper()) if tall else (label, message)
    # html, not xml.sax.saxutils: that imports urllib.request, ~20 ms of a cold start.
    label_text, label_attr = html.escape(shown_label, quote=True), html.escape(label, quote=True)
    if tall:  # bigger, spaced capitals: about 1.4x the width of the same text at 11px
        left, right = _text_width(shown_label) * 7 // 5 + 8, _text_width(shown_message) * 7 // 5 + 8
    else:
        left, right = _text_width(label), _text_width(message)
    height, baseline, size = (28, 18, 10) if tall else (20, 14, 11)
    rounded = options.style == "flat"
    clip_open = (f'<clipPath id="r"><rect width="{left + right}" height="{height}" rx="3"/></clipPath><g clip-path="url(#r)">'
                 if rounded else "<g>")
    gloss = ('<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
             '<stop offset="1" stop-opacity=".1"/></linearGradient>' if rounded else "")
    weight = ' font-weight="bold" letter-spacing="1"' if tall else ""
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="{height}" role="img" '
        f'aria-label="{label_attr}: {message}"><title>{label_attr}: {message}</title>{gloss}{clip_open}'
        f'<rect width="{left}" height="{height}" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="{height}" fill="{COLORS.get(options.color, "#" + options.color)}"/>'
        + (f'<rect width="{left + right}" height="{height}" fill="url(#s)"/>' if rounded else "")
        + f'</g><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="{size}"{weight}>'
        f'<text x="{left / 2}" y="{baseline}">{label_text}</text>'
        f'<text x="{left + right / 2}" y="{baseline}">{html.escape(shown_message)}</text></g></svg>'
    )
    shields = {"schemaVersion": 1, "label": label, "message": message, "color": options.color, "style": options.style}
    return svg, shields
