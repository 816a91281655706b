"""Badges: an SVG "visits | 1,234" (or shields.io's endpoint JSON), from a label the request may choose.
Pure; imported only when a badge is asked for, so no other cold start pays for it."""

from __future__ import annotations

import html
import unicodedata
from typing import Any

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


def _text_width(text: str) -> int:
    """Rough pixel width of 11px Verdana, enough to size a badge."""
    return sum(4 if c in "il.,:;|!1 " else 9 if c in "mwMW@" else 7 for c in text) + 10


def badge(label: str, count: int) -> tuple[str, dict[str, Any]]:
    """An SVG badge "label | 1,234" and the JSON shields.io's endpoint badge reads."""
    message = f"{count:,}"
    # html, not xml.sax.saxutils: that imports urllib.request, ~20 ms of a cold start.
    label_text = label_attr = html.escape(label, quote=True)
    left, right = _text_width(label), _text_width(message)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="20" role="img" '
        f'aria-label="{label_attr}: {message}"><title>{label_text}: {message}</title>'
        f'<rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="#007ec6"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label_text}</text><text x="{left + right / 2}" y="14">{message}</text></g></svg>'
    )
    shields = {"schemaVersion": 1, "label": label, "message": message, "color": "blue"}
    return svg, shields
