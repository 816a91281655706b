"""What became of a write, the one vocabulary of the write path (handler/store/writer.py explains it):
the three outcomes, DynamoDB's throttling codes, the timeouts, and the failures the counter answers with.
Both writers (handler/store/lean.py, and botocore's client through handler/store/dynamo.py) import this,
and nothing of theirs: so neither imports the other, nor the retry policy that uses them.
"""

from __future__ import annotations

from typing import Any

NOT_APPLIED, UNKNOWN, REJECTED = "not_applied", "unknown", "rejected"
# DynamoDB error codes that mean it refused the request before applying it.
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Refused because another request held the item: a transaction in flight on it, or, on a multi-Region
# strongly consistent global table, a write from another Region. Not applied, so safe to send again (the
# DynamoDB API reference lists both among UpdateItem's errors, each "retry the request").
CONFLICT_CODES = frozenset({"TransactionConflictException", "ReplicatedWriteConflictException"})
RETRYABLE_CODES = THROTTLING_CODES | CONFLICT_CODES

CONNECT_TIMEOUT = 1.0  # seconds
READ_TIMEOUT = 2.0  # seconds; a DynamoDB write answers in single-digit milliseconds
RETRY_AFTER = "1"  # seconds, sent with every 503
CONDITION_FAILED = "ConditionalCheckFailedException"


CANCELLED = "TransactionCanceledException"
# A cancelled transaction says why per item (CancellationReason in the DynamoDB API reference): these mean
# the item was throttled or held by another transaction, so nothing was applied and it may be sent again.
CANCELLED_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
CANCELLED_CONFLICT = "TransactionConflict"


class WriteError(Exception):
    """A write that did not return an answer: its outcome, DynamoDB's error code (if any), a cause, and
    for a cancelled transaction the reason of each item (``CancellationReasons``)."""

    def __init__(self, outcome: str, code: str, cause: str, reasons: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{outcome}: {code or cause}")
        self.outcome, self.code, self.cause, self.reasons = outcome, code, cause, reasons or []


class DynamoFailure(Exception):
    """A DynamoDB failure mapped to the HTTP answer the client gets."""

    def __init__(self, status: int, code: str, message: str, cause: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.cause = status, code, message, cause

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After with every 503 but outcome_unknown: retrying that one blindly may count twice."""
        return {"Retry-After": RETRY_AFTER} if self.status == 503 and self.code != "outcome_unknown" else {}


class ConditionFailed(Exception):
    """DynamoDB refused the update because its condition did not hold: certainly not applied. Not an
    error of the store: the caller's rule said no (a rate limit reached, an item gone). For a transaction,
    ``reasons`` says which item's condition failed (and, where asked for, what that item held)."""

    def __init__(self, cause: str, reasons: list[dict[str, Any]] | None = None) -> None:
        super().__init__(cause)
        self.reasons = reasons or []


class Replayed(Exception):
    """A repeat of a request whose Idempotency-Key was seen within the day: nothing written. ``count``: the
    first answer's (None when it has not been recorded: the first is still in flight, or was cut short)."""

    def __init__(self, count: int | None) -> None:
        super().__init__("replayed")
        self.count = count
