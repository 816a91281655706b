"""Writes of a hit that carries an ``Idempotency-Key`` (handler/rules/idempotency.py says why they are
exact): the hit and its claim as one transaction, the count it left read back, and that count kept in the
claim for the repeats. Loaded only for requests with the header."""

from __future__ import annotations

import logging
from typing import Any

from ..rules import idempotency
from ..store.outcomes import ConditionFailed, DynamoFailure, Replayed
from ..store.writer import call_once_retry_safe

LOGGER = logging.getLogger("route_counter.claims")


def write(client: Any, table: str, request: dict[str, Any], claim: str, t: float, move: bool) -> dict[str, Any]:
    """The hit's update and its claim as one transaction, then the item it wrote (a strongly consistent
    read). Raises Replayed for a repeat, ConditionFailed when the hit's own condition failed (a full rate
    window), DynamoFailure as any write does (``move``: a throttled one at once)."""
    both = idempotency.transaction(table, request, claim, t)
    try:
        call_once_retry_safe(lambda: client.transact_write_items(**both), throttled_at_once=move)
    except ConditionFailed as failed:
        seen, count = idempotency.repeat(failed.reasons)
        if seen:
            raise Replayed(count) from None
        raise
    read = {"TableName": table, "Key": request["Key"], "ConsistentRead": True}
    try:
        item: dict[str, Any] = call_once_retry_safe(lambda: client.get_item(**read)).get("Item", {})
    except DynamoFailure as failure:
        raise DynamoFailure(503, "count_unread", "the hit was counted but its count could not be read; the same "
                            "request with the same Idempotency-Key answers it without counting again", failure.cause) from None
    return item


def record(client: Any, table: str, claim: str, count: int) -> None:
    """Keep the answer's count in the claim; a failure only makes a repeat answer the count as it stands."""
    request = idempotency.record_request(table, claim, count)
    try:
        call_once_retry_safe(lambda: client.update_item(**request))
    except (ConditionFailed, DynamoFailure) as exc:
        LOGGER.warning("idempotent answer not recorded", extra={"cause": str(exc)})
