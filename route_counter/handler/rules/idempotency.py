"""Retried requests counted once: the ``Idempotency-Key`` request header (IETF httpapi draft,
"The Idempotency-Key HTTP Header Field"). Pure.

A hit that carries the header is one ``TransactWriteItems``: the hit's own update and a claim, an item
put only if absent, keyed by a hash of (method, route, key), which TTL deletes after CLAIM_SECONDS. Both
or neither: so a repeat within the day finds the claim, counts nothing, and answers the count the first
answer gave (recorded in the claim right after it). A retry after a 503 ``outcome_unknown`` is therefore
safe: either the first attempt counted and left its claim, or neither happened.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

from ..rules import parts, schema

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"  # on an answer to a repeat: nothing was counted
CLAIM_SECONDS = 24 * 3600
MAX_KEY = 255
ANSWER = "answer"  # N, on a claim: the count its first answer gave


def parse_key(value: str) -> str:
    """The key a header carries: 1 to 255 printable ASCII characters, bare or as the draft's quoted
    structured-field string (``"8e03978e-40d5"``). ValueError says what is wrong."""
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 1 <= len(key) <= MAX_KEY:
        raise ValueError(f"Idempotency-Key must hold 1 to {MAX_KEY} characters")
    if not all(" " <= c <= "~" for c in key):
        raise ValueError("Idempotency-Key must be printable ASCII")
    return key


def claim_key(method: str, route: str, key: str) -> str:
    """The claim's item key: a hash, so any key and any route fit DynamoDB's key size, and no listing
    mistakes it for a route (handler/rules/parts.py)."""
    digest = hashlib.sha256("\n".join((method, route, key)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{parts.CLAIM_MARK}idem:{digest}"


def transaction(table: str, update: Mapping[str, Any], claim: str, t: float) -> dict[str, Any]:
    """The hit's update (without ReturnValues, which transactions do not take) and the claim, as one."""
    hit = {name: value for name, value in update.items() if name != "ReturnValues"}
    # A claim past its day counts as absent even before TTL gets to it (TTL deletes within days, not at once).
    put = {"TableName": table, "Item": {schema.KEY: {schema.KEY_TYPE: claim}, schema.EXPIRES: {"N": str(int(t) + CLAIM_SECONDS)}},
           "ConditionExpression": "attribute_not_exists(#k) OR #exp <= :now",
           "ExpressionAttributeNames": {"#k": schema.KEY, "#exp": schema.EXPIRES},
           "ExpressionAttributeValues": {":now": {"N": str(int(t))}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    return {"TransactItems": [{"Update": hit}, {"Put": put}]}


def record_request(table: str, claim: str, count: int) -> dict[str, Any]:
    """Keep the first answer's count in the claim, for the repeats (a plain SET: safe to send again)."""
    return {"TableName": table, "Key": schema.key(claim), "UpdateExpression": "SET #a = :a",
            "ConditionExpression": "attribute_exists(#k)",
            "ExpressionAttributeNames": {"#a": ANSWER, "#k": schema.KEY}, "ExpressionAttributeValues": {":a": {"N": str(count)}}}


def repeat(reasons: list[dict[str, Any]]) -> tuple[bool, int | None]:
    """From a cancelled transaction's reasons: whether the claim was there (a repeat), and the count its
    first answer recorded (None while it has none)."""
    if len(reasons) < 2 or not isinstance(reasons[1], dict) or reasons[1].get("Code") != "ConditionalCheckFailed":
        return False, None
    answer = (reasons[1].get("Item") or {}).get(ANSWER, {}).get("N")
    return True, int(answer) if answer is not None else None
