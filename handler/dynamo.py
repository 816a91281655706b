"""The DynamoDB edge: client creation, the retry policy for writes, and failures mapped to HTTP answers.

Why the writer does its own retries: botocore retries a request whose response was lost (read timeout,
connection reset after sending) in every retry mode. For ``UpdateItem ... ADD`` that applies the
increment twice. So the writer's client makes exactly one attempt per call, and ``call_once_retry_safe``
re-sends only what certainly did not apply: throttling answers and connections that never opened.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, NamedTuple, TypeVar

import botocore
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

T = TypeVar("T")
LOGGER = logging.getLogger("route_counter.dynamo")

# Error codes that mean DynamoDB rejected the request before applying it.
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Connection failures raised before any byte of the request was sent.
NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)

CONNECT_TIMEOUT = 1.0  # seconds
READ_TIMEOUT = 2.0  # seconds; a DynamoDB write answers in single-digit milliseconds
RETRY_BUDGET = 1.0  # seconds in which the writer may start another attempt
BACKOFF_BASE, BACKOFF_CAP = 0.025, 0.25  # seconds; "full jitter" exponential backoff
RETRY_AFTER = "1"  # seconds, sent with every 503


class DynamoFailure(Exception):
    """A DynamoDB failure mapped to the HTTP answer the client gets."""

    def __init__(self, status: int, code: str, message: str, cause: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.cause = status, code, message, cause

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": RETRY_AFTER} if self.status == 503 else {}


class _DynamoDBOnlyLoader(Loader):  # type: ignore[misc]  # botocore has no type hints
    """botocore's data loader, minus its scan of every service's data directory (~400 of them).

    Loading a model first lists all available services to validate the name, which costs ~20 ms of a cold
    start; this code only ever loads DynamoDB's models. (`make bench` measures it.) ``register_component``
    is not a documented botocore API and the Lambda runtime's botocore changes without notice, so
    ``create_client`` falls back to the default loader if using it fails in any way.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        return ["dynamodb"]


def create_client(*, retries: bool) -> Any:
    """A low-level DynamoDB client with short timeouts; ``retries=False`` for the writer (see module doc).

    Built on botocore directly: the Lambda runtime ships it, and skipping boto3's resource layer makes
    cold starts and every call cheaper. Parameter validation is off because every request is built here.
    A fixed User-Agent spares botocore rebuilding its telemetry string twice per request.
    The endpoint can be redirected for local runs with botocore's own AWS_ENDPOINT_URL_DYNAMODB.
    """
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 3 if retries else 1},
        parameter_validation=False,
        tcp_keepalive=True,
        user_agent=f"route-counter botocore/{botocore.__version__}",
    )
    try:
        session = botocore.session.get_session()
        session.register_component("data_loader", _DynamoDBOnlyLoader())
        return session.create_client("dynamodb", config=config)
    except Exception:  # noqa: BLE001 - the shortcut is an undocumented hook: any failure -> botocore's own way
        LOGGER.warning("botocore data-loader shortcut failed; using the default loader", exc_info=True)
    return botocore.session.get_session().create_client("dynamodb", config=config)


def classify(exc: Exception, *, write: bool) -> DynamoFailure:
    """Map a botocore error to an HTTP status; the message never carries internals."""
    cause = type(exc).__name__
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        cause = code or cause
        if code in THROTTLING_CODES:
            return DynamoFailure(503, "throttled", "too many requests right now; try again shortly", cause)
        if status >= 500:
            if write:  # a 5xx from DynamoDB does not say whether the write was applied
                return DynamoFailure(503, "outcome_unknown", "the hit may or may not have been counted", cause)
            return DynamoFailure(502, "storage_error", "the counts store failed to answer", cause)
        return DynamoFailure(500, "internal_error", "the counter is misconfigured", cause)
    if isinstance(exc, NOT_SENT):
        return DynamoFailure(503, "storage_unavailable", "the counts store cannot be reached", cause)
    if write:
        return DynamoFailure(503, "outcome_unknown", "the hit may or may not have been counted", cause)
    return DynamoFailure(503, "storage_unavailable", "the counts store did not answer in time", cause)


class Clock(NamedTuple):
    """Where the retry loop gets time and waits: the system's, or a test's (module attribute CLOCK)."""

    monotonic: Callable[[], float]
    sleep: Callable[[float], None]


CLOCK = Clock(time.monotonic, time.sleep)


def call_once_retry_safe(
    operation: Callable[[], T],
    *,
    budget: float = RETRY_BUDGET,
    clock: Clock | None = None,
    jitter: Callable[[], float] = random.random,
) -> T:
    """Run a non-idempotent write, re-sending it only when it certainly did not apply.

    Throttling and never-opened connections are retried with jittered backoff while the budget lasts;
    anything whose outcome is unknown raises at once. Raises DynamoFailure.
    """
    clock = clock or CLOCK
    deadline = clock.monotonic() + budget
    attempt = 0
    while True:
        try:
            return operation()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in THROTTLING_CODES:
                raise classify(exc, write=True) from exc
            last: Exception = exc
        except NOT_SENT as exc:
            last = exc
        except BotoCoreError as exc:  # read timeout, connection reset after sending, ...: do NOT resend
            raise classify(exc, write=True) from exc
        delay = jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        attempt += 1
        if clock.monotonic() + delay >= deadline:
            raise classify(last, write=True) from last
        clock.sleep(delay)
