"""The lean DynamoDB writer: one signed ``UpdateItem`` over one kept-alive connection, standard library only.

Why: botocore costs a cold start ~150 ms to import and ~45 ms to build a client; this costs a few ms, and
for a static site's counter most hits are cold starts. What it must get right, and how:

- Signatures: handler/store/sigv4.py, checked against botocore's SigV4Auth and by a signature-verifying moto
  server. Credentials come from the environment, as Lambda provides them (the session token included).
- Endpoints: ``AWS_ENDPOINT_URL_DYNAMODB`` or ``AWS_ENDPOINT_URL`` if set; else ``AWS_REGION`` with its
  partition's DNS suffix, and the FIPS endpoint with ``AWS_USE_FIPS_ENDPOINT=true`` (the same hosts
  botocore resolves: tests/test_lean.py compares them). TLS is verified against the system trust store.
- Outcomes (handler/store/writer.py): a connection that never opened is NOT_APPLIED; once a byte is sent,
  any failure (timeout, reset, an empty answer) is UNKNOWN and never re-sent; 5xx is UNKNOWN; throttling
  codes are NOT_APPLIED; other 4xx are REJECTED.
- Keep-alive: the connection is reused across invocations. Lambda freezes the function between them, and
  DynamoDB may close an idle connection meanwhile; sending on such a connection and then finding it
  closed would leave the outcome unknown. So before reuse it is checked, as urllib3 does: a socket that
  is readable while no answer is due has been closed (or is out of step), and a new connection is opened.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import select
import socket
import ssl
import threading
import time
from typing import Any, Mapping, NamedTuple
from urllib.parse import urlsplit

from ..store import sigv4
from ..store.outcomes import CONNECT_TIMEOUT, NOT_APPLIED, READ_TIMEOUT, REJECTED, RETRYABLE_CODES, UNKNOWN, WriteError

SERVICE = "dynamodb"
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
USER_AGENT = "route-counter-lean/1"

# Partitions by region prefix: (DNS suffix); botocore's endpoint rules give the same hosts for DynamoDB.
_PARTITIONS = (("cn-", "amazonaws.com.cn"), ("us-gov-", "amazonaws.com"))
_DEFAULT_SUFFIX = "amazonaws.com"


class ConfigError(RuntimeError):
    """The environment cannot say where or as whom to send requests."""


class Endpoint(NamedTuple):
    scheme: str
    host: str
    port: int
    host_header: str  # the Host header: the host, with the port when it is not the scheme's default


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def resolve_endpoint(env: Mapping[str, str]) -> tuple[Endpoint, str]:
    """The endpoint and the signing region, from the environment as botocore would read it."""
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise ConfigError("AWS_REGION is not set")
    url = (env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or "").strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"endpoint URL {url!r} must be http(s)://host[:port]")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host_header = parts.netloc.rpartition("@")[2]
        if parts.port == default:
            host_header = host_header.rsplit(":", 1)[0]
        return Endpoint(parts.scheme, parts.hostname, port, host_header), region
    suffix = next((s for prefix, s in _PARTITIONS if region.startswith(prefix)), _DEFAULT_SUFFIX)
    name = "dynamodb-fips" if _truthy(env.get("AWS_USE_FIPS_ENDPOINT")) else "dynamodb"
    host = f"{name}.{region}.{suffix}"
    return Endpoint("https", host, 443, host), region


def credentials_from(env: Mapping[str, str]) -> sigv4.Credentials:
    access, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        raise ConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
    return sigv4.Credentials(access, secret, env.get("AWS_SESSION_TOKEN") or None)


def dropped(sock: socket.socket | None) -> bool:
    """Whether a kept-alive connection can no longer be used: no answer is due on it, so if it is
    readable the peer has closed it (EOF) or sent something out of turn (urllib3's wait_for_read check)."""
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


@functools.lru_cache(maxsize=1)
def system_trust() -> ssl.SSLContext:
    """One TLS context a process, verifying against the system trust store: loading the store takes ~20 ms,
    and a context serves any number of connections."""
    return ssl.create_default_context()


class LeanDynamoDB:
    """``update_item(**request)`` -> DynamoDB's JSON answer, or WriteError. One connection, reused."""

    def __init__(self, endpoint: Endpoint, region: str, credentials: sigv4.Credentials,
                 context: ssl.SSLContext | None = None) -> None:
        self.endpoint, self.region, self.credentials = endpoint, region, credentials
        self._context = context
        # One connection per thread: Lambda runs one invocation at a time per instance, so on Lambda this
        # is one connection; the local API runs invocations in threads, each like an instance of its own.
        self._local = threading.local()
        self.connections_opened = 0  # for tests and the bench: reuse is observable

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LeanDynamoDB:
        env = os.environ if env is None else env
        endpoint, region = resolve_endpoint(env)
        context = system_trust() if endpoint.scheme == "https" else None
        return cls(endpoint, region, credentials_from(env), context)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self.call("UpdateItem", request)

    def put_item(self, **request: Any) -> dict[str, Any]:  # visitor markers (uniqueVisitors)
        return self.call("PutItem", request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self.call("DeleteItem", request)

    def get_item(self, **request: Any) -> dict[str, Any]:  # an ignored hit's count (ignoreIps), a hot head
        return self.call("GetItem", request)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:  # a hot route's total (its parts)
        return self.call("BatchGetItem", request)

    def transact_write_items(self, **request: Any) -> dict[str, Any]:  # a hit with an Idempotency-Key
        return self.call("TransactWriteItems", request)

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = self._signed_headers(operation, body)
        conn = self._connection()
        try:
            conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            # Bytes were sent: whether DynamoDB applied them cannot be known. Never re-send.
            self.close()
            raise WriteError(UNKNOWN, "", type(exc).__name__) from None
        if response.will_close:
            self.close()
        return self._answer(response.status, payload)

    def _signed_headers(self, operation: str, body: bytes) -> dict[str, str]:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = {
            "Host": self.endpoint.host_header,
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": TARGET_PREFIX + operation,
            "X-Amz-Date": amz_date,
        }
        if self.credentials.token:
            headers["X-Amz-Security-Token"] = self.credentials.token
        headers["Authorization"] = sigv4.authorization(
            "POST", "/", headers, body, self.credentials, self.region, SERVICE, amz_date
        )
        headers["User-Agent"] = USER_AGENT  # not signed, as botocore does not sign it either
        return headers

    @property
    def _conn(self) -> http.client.HTTPConnection | None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        return conn

    def _connection(self) -> http.client.HTTPConnection:
        """The kept-alive connection if still usable, else a new one; a failure here sent nothing."""
        if self._conn is not None and not dropped(self._conn.sock):
            return self._conn
        self.close()
        endpoint = self.endpoint
        conn: http.client.HTTPConnection
        if endpoint.scheme == "https":
            conn = http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=CONNECT_TIMEOUT,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=CONNECT_TIMEOUT)
        try:
            conn.connect()  # TCP (and TLS) before any byte of the request: failing here applied nothing
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise WriteError(NOT_APPLIED, "", type(exc).__name__) from None
        assert conn.sock is not None
        conn.sock.settimeout(READ_TIMEOUT)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        self.connections_opened += 1
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._local.conn = None

    @staticmethod
    def _answer(status: int, payload: bytes) -> dict[str, Any]:
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if status == 200:
            return data
        code = str(data.get("__type", "")).rpartition("#")[2]
        if status >= 500:
            raise WriteError(UNKNOWN, code, f"HTTP {status}")
        if code in RETRYABLE_CODES:
            raise WriteError(NOT_APPLIED, code, f"HTTP {status}")
        reasons = data.get("CancellationReasons")
        raise WriteError(REJECTED, code, f"HTTP {status}", reasons if isinstance(reasons, list) else None)
