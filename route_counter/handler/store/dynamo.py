"""The botocore edge: client creation, read failures mapped to HTTP answers, and botocore's exceptions
translated into the write path's outcomes (handler/store/writer.py explains the write path and its retries).

The listing, the admin CLI and the local server use botocore; the counter does only with ``writer`` set to
``botocore`` (stack config), and then with one attempt per call: botocore re-sends a request whose
response was lost in every retry mode, which for ``UpdateItem ... ADD`` applies the increment twice.
"""

from __future__ import annotations

import logging
from typing import Any

import botocore
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from ..store.outcomes import (
    CONNECT_TIMEOUT,
    NOT_APPLIED,
    READ_TIMEOUT,
    REJECTED,
    RETRYABLE_CODES,
    THROTTLING_CODES,
    UNKNOWN,
    DynamoFailure,
    WriteError,
)

LOGGER = logging.getLogger("route_counter.dynamo")
# The counter logs at INFO (its metrics line): botocore's INFO chatter ("Found credentials ...") stays out.
logging.getLogger("botocore").setLevel(logging.WARNING)
# Connection failures raised before any byte of the request was sent.
NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)


class _DynamoDBOnlyLoader(Loader):  # type: ignore[misc]  # botocore has no type hints
    """botocore's data loader, minus its scan of every service's data directory (~400 of them).

    Loading a model first lists all available services to validate the name, which costs ~20 ms of a cold
    start; this code only ever loads DynamoDB's models. (`make bench` measures it.) ``register_component``
    is not a documented botocore API and the Lambda runtime's botocore changes without notice, so
    ``create_client`` falls back to the default loader if using it fails in any way.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        return ["dynamodb"]


# One loader for every client this process makes: it caches the models it parsed (~40 ms of JSON a client),
# as one session's loader does for all the clients of that session.
_LOADER = _DynamoDBOnlyLoader()


def create_client(*, retries: bool, read_timeout: float = READ_TIMEOUT, region: str | None = None) -> Any:
    """A low-level DynamoDB client with short timeouts; ``retries=False`` for the writer (see module doc).

    Built on botocore directly: the Lambda runtime ships it, and skipping boto3's resource layer makes
    cold starts and every call cheaper. Parameter validation is off because every request is built here.
    A fixed User-Agent spares botocore rebuilding its telemetry string twice per request.
    The endpoint can be redirected for local runs with botocore's own AWS_ENDPOINT_URL_DYNAMODB.
    ``read_timeout``: the admin CLI waits longer (a 100-item transaction takes seconds in a local store).
    ``region``: another region than the environment's (a global table's replica).
    """
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 3 if retries else 1},
        parameter_validation=False,
        tcp_keepalive=True,
        user_agent=f"route-counter botocore/{botocore.__version__}",
    )
    try:
        session = botocore.session.get_session()
        session.register_component("data_loader", _LOADER)
        return session.create_client("dynamodb", config=config, region_name=region)
    except Exception:  # noqa: BLE001 - the shortcut is an undocumented hook: any failure -> botocore's own way
        LOGGER.warning("botocore data-loader shortcut failed; using the default loader", exc_info=True)
    return botocore.session.get_session().create_client("dynamodb", config=config, region_name=region)


def write_error(exc: Exception) -> WriteError | None:
    """A botocore exception from a write as the write path's outcome (None: not botocore's)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in RETRYABLE_CODES:
            return WriteError(NOT_APPLIED, code, "throttled" if code in THROTTLING_CODES else "conflict")
        # A 5xx from DynamoDB does not say whether the write was applied.
        return WriteError(UNKNOWN if status >= 500 else REJECTED, code, f"HTTP {status}", exc.response.get("CancellationReasons"))
    if isinstance(exc, NOT_SENT):
        return WriteError(NOT_APPLIED, "", type(exc).__name__)
    if isinstance(exc, BotoCoreError):  # read timeout, connection reset after sending, ...: do NOT resend
        return WriteError(UNKNOWN, "", type(exc).__name__)
    return None


def classify(exc: Exception) -> DynamoFailure:
    """A botocore error from a read as the HTTP answer (reads are idempotent: botocore retried them)."""
    cause = type(exc).__name__
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        cause = code or cause
        if code in THROTTLING_CODES:
            return DynamoFailure(503, "throttled", "too many requests right now; try again shortly", cause)
        if code in RETRYABLE_CODES:
            return DynamoFailure(503, "write_conflict", "the item is being written right now; try again shortly", cause)
        if status >= 500:
            return DynamoFailure(502, "storage_error", "the counts store failed to answer", cause)
        return DynamoFailure(500, "internal_error", "the listing is misconfigured", cause)
    return DynamoFailure(503, "storage_unavailable", "the counts store did not answer in time", cause)
