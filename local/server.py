"""The local API: HTTP -> API Gateway REST proxy event -> the real handlers -> HTTP.

The embedded store is moto, in process. moto loses concurrent ``ADD`` updates when several threads reach
it at once, so every call into the embedded store is serialised by one lock; the HTTP side still accepts
connections concurrently. With ``--dynamodb-endpoint`` (DynamoDB Local, dynalite, ...) the store
handles concurrency itself and no lock is taken.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any, Callable, Iterator
from urllib.parse import quote

from local.events import COUNTER, LISTING, build_event

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_URL_SAFE = "/?#[]@!$&'()*+,;=%:~"
# DynamoDB API calls (`python -m counts --endpoint http://127.0.0.1:8080`) carry this header; browsers never do.
DYNAMODB_TARGET = "DynamoDB_20120810."
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True)
class LocalConfig:
    host: str
    port: int
    table: str
    counts_path: str
    stage: str
    environment: dict[str, str]  # the handlers' Lambda environment
    endpoint: str | None = None
    quiet: bool = False
    admin: bool = True  # answer DynamoDB API calls (loopback only: they can reset counts)


class Backend:
    """Loads the handlers against the chosen store and invokes them like Lambda would."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self._stack = contextlib.ExitStack()
        # Only the embedded store needs serialising (see module doc).
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if config.endpoint is None else contextlib.nullcontext()
        )
        self.functions: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {}
        self.store: Any = None  # a client of the store, for the admin pass-through

    def start(self) -> None:
        os.environ.update(self.config.environment)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
        if self.config.endpoint is None:
            from moto import mock_aws

            os.environ.update(FAKE_CREDENTIALS)
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
            self._stack.enter_context(mock_aws())
        else:
            for name, value in FAKE_CREDENTIALS.items():
                os.environ.setdefault(name, value)
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.config.endpoint  # read by botocore itself
        from handler import schema
        from handler.dynamo import create_client

        self.store = create_client(retries=True)
        try:
            self.store.describe_table(TableName=self.config.table)
        except self.store.exceptions.ResourceNotFoundException:
            self.store.create_table(**schema.create_table_kwargs(self.config.table))
            self.store.get_waiter("table_exists").wait(TableName=self.config.table, WaiterConfig={"Delay": 0.2})
        for name in (COUNTER, LISTING):
            self.functions[name] = importlib.import_module(f"handler.{name}").handler

    def stop(self) -> None:
        self._stack.close()

    def dynamodb_api(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one DynamoDB JSON-protocol request against the store (for `python -m counts --endpoint`)."""
        from botocore import xform_name
        from botocore.exceptions import ClientError

        operation = target.rpartition(".")[2]
        if operation not in self.store.meta.service_model.operation_names:
            return 400, {"__type": "com.amazon.coral.service#UnknownOperationException", "message": operation}
        try:
            call = getattr(self.store, xform_name(operation))
            params = json.loads(body or b"{}")
            with self._lock:
                result = call(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            return status, {"__type": f"com.amazonaws.dynamodb.v20120810#{error.get('Code')}", "message": error.get("Message")}
        except (TypeError, ValueError) as exc:
            return 400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": str(exc)}
        result.pop("ResponseMetadata", None)
        return 200, result

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        context = SimpleNamespace(
            aws_request_id=event["requestContext"]["requestId"],
            function_name=f"route-counter-local-{function}",
            get_remaining_time_in_millis=lambda: 6000,
        )
        with self._lock:
            return self.functions[function](event, context)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, config: LocalConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        super().__init__((config.host, config.port), RequestHandler)


class RequestHandler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"
    server_version = "route-counter-local"
    # Errors found before the request line is understood still get a status line (not HTTP/0.9 HTML).
    default_request_version = "HTTP/1.0"

    def _handle(self) -> None:
        started = time.perf_counter()
        status = self._respond()
        if not self.server.config.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"{self.command} {self.path} {status} {elapsed:.1f}ms", flush=True)

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the handlers (which answer 405 for the ones they do not take), as on AWS.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _respond(self) -> int:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._error(411, "length_required", "send a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._error(400, "bad_request", "Content-Length is not a number")
        if not 0 <= length <= MAX_BODY:
            return self._error(413, "payload_too_large", "body is larger than 10 MB")
        body = self.rfile.read(length) if length else b""
        config = self.server.config
        target_header = self.headers.get("X-Amz-Target", "")
        # Browsers always send Origin on such a request, botocore never does: no web page can drive this.
        admin_call = config.admin and "Origin" not in self.headers
        if self.command == "POST" and target_header.startswith(DYNAMODB_TARGET) and admin_call:
            status, answer = self.server.backend.dynamodb_api(target_header, body)
            return self._write({"statusCode": status, "body": json.dumps(answer),
                                "headers": {"Content-Type": "application/x-amz-json-1.0"}})
        # http.server decodes the request line as Latin-1; put raw bytes back as %XX, as clients send them,
        # so the handlers' strict UTF-8 decoding sees exactly what arrived.
        target = quote(self.path.encode("latin-1", "replace"), safe=_URL_SAFE)
        event, function = build_event(
            self.command,
            target,
            self.headers.items(),
            body,
            counts_path=config.counts_path,
            stage=config.stage,
            source_ip=self.client_address[0],
            request_id=str(uuid.uuid4()),
        )
        try:
            result = self.server.backend.invoke(function, event)
        except Exception:  # what API Gateway answers when the function itself fails
            traceback.print_exc(file=sys.stderr)
            return self._error(502, "internal_server_error", "Internal server error")
        return self._write(result)

    def _write(self, result: dict[str, Any]) -> int:
        status = int(result.get("statusCode", 200))
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        self.send_response(status)
        for name, value in (result.get("headers") or {}).items():
            self.send_header(name, str(value))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return status

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, oversized headers) as JSON, and always a 4xx."""
        if code == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED:  # a malformed request, for our purposes
            code, message = HTTPStatus.BAD_REQUEST, message or "unsupported HTTP version"
        self._error(code, HTTPStatus(code).phrase.lower().replace(" ", "_").replace("-", "_"), message or HTTPStatus(code).phrase)

    def _error(self, status: int, code: str, message: str) -> int:
        body = json.dumps({"error": code, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True
        return status

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # Only http.server's own errors (bad request lines, oversized headers) reach here.
        if not self.server.config.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Replaced by the one-line log in _handle."""


@contextlib.contextmanager
def running(config: LocalConfig) -> Iterator[LocalServer]:
    """Start the backend and bind the server; closes both on exit."""
    backend = Backend(config)
    backend.start()
    try:
        server = LocalServer(config, backend)
    except BaseException:
        backend.stop()
        raise
    try:
        yield server
    finally:
        server.server_close()
        backend.stop()


def configure_logging() -> None:
    """Handler log lines as JSON with their extra fields, as Lambda's JSON log format shows them."""

    class JsonFormatter(logging.Formatter):
        skip = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

        def format(self, record: logging.LogRecord) -> str:
            line = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
            line.update({k: v for k, v in vars(record).items() if k not in self.skip})
            return json.dumps(line, default=str)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("botocore").setLevel(logging.WARNING)
