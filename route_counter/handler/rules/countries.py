"""ISO 3166-1 alpha-2 country codes: which ``CloudFront-Viewer-Country`` values are counted. Pure.

The 249 officially assigned codes, as a constant so the code asset needs no package; the tests check
it against the maintained ``iso3166`` package (pinned in requirements-dev.txt). Kosovo's ``XK`` is a
user-assigned code, not part of ISO 3166-1, and is left out with anything else.
"""

from __future__ import annotations

COUNTRY_PREFIX = "c:"  # item attribute "c:DE": hits from Germany

CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)


def country_attribute(header: str | None) -> str | None:
    """The attribute a hit from this viewer country adds to, or None for a missing or invalid code."""
    code = (header or "").strip()
    return COUNTRY_PREFIX + code if code in CODES else None
