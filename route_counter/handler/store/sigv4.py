"""AWS Signature Version 4 for one JSON-protocol POST, with the standard library only. Pure: no I/O.

The counter signs its one UpdateItem itself so that a cold start never imports botocore (~150 ms of
import and ~45 ms of client creation, against a few ms for this). It is checked against botocore's own
SigV4Auth over generated requests (tests/test_sigv4.py) and end to end by a moto server that verifies
signatures; the steps are AWS's documented ones ("Create a signed AWS API request").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Mapping, NamedTuple

ALGORITHM = "AWS4-HMAC-SHA256"
_SPACES = re.compile(r"\s+")


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None  # a session token: always present on Lambda, and signed


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key for one day, region and service (AWS caches nothing here; neither do we)."""
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(canonical header block, signed header list): names lower-cased and sorted, values trimmed with
    inner runs of white space folded to one space."""
    folded = sorted((name.lower().strip(), _SPACES.sub(" ", value.strip())) for name, value in headers.items())
    return "".join(f"{name}:{value}\n" for name, value in folded), ";".join(name for name, _ in folded)


def authorization(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    amz_date: str,
) -> str:
    """The Authorization header for a request with these exact headers (which must include Host and
    X-Amz-Date, and X-Amz-Security-Token when there is a token). ``path`` is already URI-encoded and
    the request has no query string (true of every DynamoDB JSON call)."""
    block, signed = canonical_headers(headers)
    canonical_request = "\n".join([method, path or "/", "", block, signed, hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = signing_key(credentials.secret_key, amz_date[:8], region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
