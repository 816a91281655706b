"""The counter's write path, as one seam: send one UpdateItem, and say what became of it.

Every writer (the lean one in handler/store/lean.py, or botocore's client) either returns DynamoDB's answer or
raises WriteError with one of three outcomes:

- NOT_APPLIED: DynamoDB certainly did not apply it (a throttling answer, a connection that never opened):
  safe to send again.
- UNKNOWN: it may or may not have been applied (a timeout or reset after sending, a 5xx): never re-sent,
  because re-sending an ``ADD`` that did apply counts the hit twice (botocore's own retries do exactly
  that, in every retry mode, which is why no writer here uses them).
- REJECTED: DynamoDB refused it (validation, a missing table, access denied, a failed condition).

``call_once_retry_safe`` re-sends only NOT_APPLIED, within a time budget, and turns the rest into the HTTP
answer. No botocore here: on the lean path a cold start never imports it.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from .. import clock as _clock
from ..clock import Clock
from ..store.outcomes import (
    CANCELLED,
    CANCELLED_CONFLICT,
    CANCELLED_THROTTLED,
    CONDITION_FAILED,
    CONFLICT_CODES,
    NOT_APPLIED,
    REJECTED,
    THROTTLING_CODES,
    UNKNOWN,
    ConditionFailed,
    DynamoFailure,
    WriteError,
)

T = TypeVar("T")

# No Retry-After with it: a blind retry could count the hit twice. The Idempotency-Key header makes it safe.
UNKNOWN_MESSAGE = ("the hit may have been counted; a retry counts it again unless it carries the same "
                   "Idempotency-Key header as the first request (then a retry is safe)")
RETRY_BUDGET = 1.0  # seconds in which the writer may start another attempt
BACKOFF_BASE, BACKOFF_CAP = 0.025, 0.25  # seconds; "full jitter" exponential backoff
# Bounds that hold whatever the clock does: 2**8 puts the backoff past its cap already (so it never grows
# into a float overflow), and a clock that does not advance still ends after MAX_ATTEMPTS sends.
_MAX_DOUBLINGS, MAX_ATTEMPTS = 8, 32


def failure(error: WriteError) -> DynamoFailure:
    """The HTTP answer for a write that failed; the message never carries internals."""
    cause = error.code or error.cause
    if error.outcome == NOT_APPLIED:
        if error.code in THROTTLING_CODES:
            return DynamoFailure(503, "throttled", "too many requests right now; try again shortly", cause)
        if error.code in CONFLICT_CODES:
            return DynamoFailure(503, "write_conflict", "the route is being written by another request; try again shortly", cause)
        return DynamoFailure(503, "storage_unavailable", "the counts store cannot be reached", cause)
    if error.outcome == UNKNOWN:
        return DynamoFailure(503, "outcome_unknown", UNKNOWN_MESSAGE, cause)
    return DynamoFailure(500, "internal_error", "the counter is misconfigured", cause)


def cancelled(error: WriteError) -> WriteError:
    """A cancelled transaction as what became of it: throttled or in conflict (nothing applied: may be sent
    again), a failed condition (with each item's reason), or refused."""
    codes = {reason.get("Code") for reason in error.reasons if isinstance(reason, dict)}
    if codes & CANCELLED_THROTTLED:
        return WriteError(NOT_APPLIED, "ThrottlingException", error.cause)
    if CANCELLED_CONFLICT in codes:
        return WriteError(NOT_APPLIED, "TransactionConflictException", error.cause)
    if "ConditionalCheckFailed" in codes:
        return WriteError(REJECTED, CONDITION_FAILED, error.cause, error.reasons)
    return error


def as_write_error(exc: Exception) -> WriteError | None:
    """A writer's exception as a WriteError; botocore's are translated by handler.store.dynamo, imported only
    when such an exception exists (so only when botocore is already loaded). None: not a write error."""
    if isinstance(exc, WriteError):
        return exc
    if type(exc).__module__.startswith("botocore"):
        from ..store.dynamo import write_error

        return write_error(exc)
    return None


def call_once_retry_safe(
    operation: Callable[[], T],
    *,
    budget: float = RETRY_BUDGET,
    clock: Clock | None = None,
    jitter: Callable[[], float] | None = None,
    throttled_at_once: bool = False,
) -> T:
    """Run a non-idempotent write, re-sending it only when it certainly did not apply.

    NOT_APPLIED is retried with jittered backoff while the budget lasts; anything else raises at once, and
    so does throttling with ``throttled_at_once`` (the caller moves the write to another item instead).
    Raises DynamoFailure, or ConditionFailed when the request's condition did not hold.
    """
    clock = clock or _clock.CLOCK  # read at call time: tests replace handler.clock.CLOCK
    deadline = clock.monotonic() + budget
    attempt = 0
    while True:
        try:
            return operation()
        except Exception as exc:
            error = as_write_error(exc)
            if error is None:
                raise
            if error.outcome == REJECTED and error.code == CANCELLED:
                error = cancelled(error)
            if error.outcome == REJECTED and error.code == CONDITION_FAILED:
                raise ConditionFailed(error.cause, error.reasons) from exc
            if error.outcome != NOT_APPLIED or (throttled_at_once and error.code in THROTTLING_CODES):
                raise failure(error) from exc
            last = error
        if jitter is None:  # random is imported on the first retry only: most cold starts never retry
            import random

            jitter = random.random
        delay = jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, _MAX_DOUBLINGS))
        attempt += 1
        if attempt >= MAX_ATTEMPTS or clock.monotonic() + delay >= deadline:
            raise failure(last)
        clock.sleep(delay)
