"""The local API: HTTP -> API Gateway REST proxy event -> the real handlers -> HTTP.

The embedded store is moto, in process, behind a DynamoDB endpoint of its own on loopback. moto loses
concurrent ``ADD`` updates when several threads reach it at once, so every call into the embedded store
is serialised by one lock; the HTTP side still accepts connections concurrently. With
``--dynamodb-endpoint`` (DynamoDB Local, dynalite, ...) the store handles concurrency itself and no lock
is taken.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import hmac
import importlib
import ipaddress
import json
import logging
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from types import SimpleNamespace
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, quote

from route_counter.cli.context import LOCAL_CONFIG_TARGET, LOCAL_TOKEN_HEADER, local_token_file
from route_counter.infra.openapi import needs_credentials
from local.events import COUNTER, LISTING, build_event

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_URL_SAFE = "/?#[]@!$&'()*+,;=%:~"
# DynamoDB API calls (`python -m counts --endpoint http://127.0.0.1:8080`) carry this header; browsers never do.
DYNAMODB_TARGET = "DynamoDB_20120810."
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
LOCAL_BUCKET = "route-counter-local-downloads"  # the downloads' bucket name inside the local API


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
    admin: bool = True  # answer DynamoDB API calls from loopback peers (they can reset counts); never from afar
    counts_api_key: str | None = None  # as API Gateway does with countsAccess apiKey: x-api-key on the listing
    stack_config: dict[str, Any] | None = None  # the stack config this server stands for (LOCAL_CONFIG_TARGET)


class Backend:
    """Loads the handlers against the chosen store and invokes them like Lambda would.

    The handlers always reach the store over HTTP through ``AWS_ENDPOINT_URL_DYNAMODB``, as they reach
    DynamoDB on Lambda (the counter's lean writer and the listing's botocore alike). For the embedded
    store that endpoint is a loopback server of its own that answers DynamoDB's JSON protocol from moto,
    one call at a time.
    """

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self._stack = contextlib.ExitStack()
        # Only the embedded store needs serialising (see module doc).
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if config.endpoint is None else contextlib.nullcontext()
        )
        self.functions: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {}
        self.store: Any = None  # a client of the store
        self.admin: Any = None  # a validating client of the store, for the admin pass-through
        self.store_url: str | None = None  # where the handlers reach the store
        self.objects: dict[str, tuple[bytes, str]] = {}  # downloads, by object key

    def start(self) -> None:
        os.environ.update(self.config.environment)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
        if self.config.endpoint is None:
            from moto import mock_aws

            from local import moto_cache

            moto_cache.install()
            os.environ.update(FAKE_CREDENTIALS)
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
            os.environ.pop("AWS_ENDPOINT_URL", None)
            self._stack.enter_context(mock_aws())
        else:
            for name, value in FAKE_CREDENTIALS.items():
                os.environ.setdefault(name, value)
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.config.endpoint
        from route_counter.handler.rules import meter_schema, schema
        from route_counter.handler.store.dynamo import create_client

        # Made before the handlers' endpoint is set: in embedded mode these talk to moto in process.
        self.store = create_client(retries=True)
        # The admin pass-through takes requests from outside: a client that validates their parameters,
        # so a malformed call is a ValidationException (400), not an error deep in botocore.
        import botocore.session

        self.admin = botocore.session.get_session().create_client("dynamodb")
        try:
            self.store.describe_table(TableName=self.config.table)
        except self.store.exceptions.ResourceNotFoundException:
            self.store.create_table(**schema.create_table_kwargs(self.config.table))
            self.store.get_waiter("table_exists").wait(TableName=self.config.table, WaiterConfig={"Delay": 0.2})
        meter_table = self.config.environment.get("METER_TABLE")
        if meter_table:  # metering's markers and usage: `python -m counts ingest --endpoint ...` writes here
            try:
                self.store.describe_table(TableName=meter_table)
            except self.store.exceptions.ResourceNotFoundException:
                self.store.create_table(**meter_schema.meter_table_kwargs(meter_table))
        markers = self.config.environment.get("VISITOR_TABLE")
        if markers:  # --unique-visitors: the markers' table (on DynamoDB, TTL deletes them; here they live in memory)
            from route_counter.handler.rules.visitors import create_table_kwargs

            try:
                self.store.describe_table(TableName=markers)
            except self.store.exceptions.ResourceNotFoundException:
                self.store.create_table(**create_table_kwargs(markers))
        self.objects = self._download_objects()
        if self.config.endpoint is None or self.objects:
            store = self._serve_store()
            if self.objects:  # presigned download links point here (the handler signs them as on AWS)
                os.environ["AWS_ENDPOINT_URL_S3"] = store
        if self.config.endpoint is None:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = store  # the handlers' clients read it
            self.store_url = store
        else:
            self.store_url = self.config.endpoint
        for name in (COUNTER, LISTING):
            self.functions[name] = importlib.import_module(f"route_counter.handler.{name}").handler

    def _download_objects(self) -> dict[str, tuple[bytes, str]]:
        """The configured downloads' bytes and content types, by object key, read from their local files."""
        from route_counter.handler.rules.settings import Settings

        links = Settings.from_env(self.config.environment).links
        if not links.downloads:
            return {}
        from route_counter.infra.downloads import content_type  # loads Pulumi: only for a stack with downloads

        return {d.key: (Path(d.source).read_bytes(), content_type(d.source)) for d in links.downloads.values()}

    def _serve_store(self) -> str:
        """The embedded store's own DynamoDB endpoint (and the downloads' S3 stand-in), on a loopback port
        no one else is told about."""
        from waitress.server import create_server

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and not environ.get("HTTP_X_AMZ_TARGET"):
                status, headers, body = self.s3_get(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
            else:
                code, answer = self.dynamodb_api(environ.get("HTTP_X_AMZ_TARGET", ""), environ["wsgi.input"].read())
                status, body = code, json.dumps(answer, default=_wire).encode()
                headers = [("Content-Type", "application/x-amz-json-1.0")]
            start_response(f"{status} {_phrase(status)}", [*headers, ("Content-Length", str(len(body)))])
            return [body]

        server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="route-counter-local-store")
        closing = threading.Event()

        def serve() -> None:
            try:
                server.run()
            except (OSError, ValueError):  # its sockets closed under its select() by close() below: stopping
                if not closing.is_set():
                    raise

        def close() -> None:
            closing.set()
            server.close()

        threading.Thread(target=serve, daemon=True, name="embedded-store").start()
        self._stack.callback(close)
        return f"http://127.0.0.1:{server.effective_port}"

    def s3_get(self, path: str, query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """A presigned GET of a download, as S3 answers it: the object, saved as the link says, until the
        link expires. (The signature itself is not checked here: IAM is not emulated locally.)"""
        params = dict(parse_qsl(query))
        bucket, _, key = path.lstrip("/").partition("/")
        found = self.objects.get(key) if bucket == LOCAL_BUCKET else None
        if found is None:
            return 404, [("Content-Type", "text/plain")], b"NoSuchKey"
        try:
            signed = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            expired = time.time() > signed.timestamp() + int(params["X-Amz-Expires"])
        except (KeyError, ValueError):
            return 403, [("Content-Type", "text/plain")], b"AccessDenied: not a presigned URL"
        if expired:
            return 403, [("Content-Type", "text/plain")], b"AccessDenied: Request has expired"
        body, kind = found
        headers = [("Content-Type", kind)]
        if "response-content-disposition" in params:
            headers.append(("Content-Disposition", params["response-content-disposition"]))
        return 200, headers, body

    def stop(self) -> None:
        self._stack.close()

    def dynamodb_api(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one DynamoDB JSON-protocol request against the store: for the handlers (embedded store)
        and for `python -m counts --endpoint`. Serialised for the embedded store (see module doc)."""
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        operation = target.rpartition(".")[2] if target.startswith(DYNAMODB_TARGET) else ""
        if operation not in self.admin.meta.service_model.operation_names:
            return 400, {"__type": "com.amazon.coral.service#UnknownOperationException", "message": operation}
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("the request body must be a JSON object")
            model = self.admin.meta.service_model.operation_model(operation)
            params = _from_wire(params, model.input_shape)
            with self._lock:
                result = getattr(self.admin, xform_name(operation))(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            answer = {"__type": f"com.amazonaws.dynamodb.v20120810#{error.get('Code')}", "message": error.get("Message")}
            if "CancellationReasons" in exc.response:  # a cancelled transaction says which item stopped it
                answer["CancellationReasons"] = exc.response["CancellationReasons"]
            return status, answer
        except (BotoCoreError, TypeError, ValueError) as exc:  # ParamValidationError, bad JSON, wrong shapes
            return 400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": str(exc)}
        result.pop("ResponseMetadata", None)
        return 200, result

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        context = SimpleNamespace(
            aws_request_id=event["requestContext"]["requestId"],
            function_name=f"route-counter-local-{function}",
            get_remaining_time_in_millis=lambda: 6000,
        )
        return self.functions[function](event, context)


def _from_wire(value: Any, shape: Any) -> Any:
    """A request's JSON as botocore's Python arguments: binary values arrive base64-encoded on the wire, and
    botocore would encode them again. Walks the operation's input shape; anything else passes through."""
    kind = getattr(shape, "type_name", None)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError(f"{shape.name}: not base64") from None
    if kind == "structure" and isinstance(value, dict):
        return {k: _from_wire(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_from_wire(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_wire(v, shape.value) for k, v in value.items()}
    return value


def _wire(value: Any) -> Any:
    """What DynamoDB's JSON protocol sends for values botocore parsed into Python types."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class LocalApp:
    """The WSGI application: an HTTP request -> the proxy event AWS would send -> the handler -> HTTP.

    HTTP itself (parsing, keep-alive and HTTP/1.0, timeouts, header and body limits, IPv6) is waitress's;
    its own answers to requests it cannot parse are plain text 4xx. Everything this app answers is JSON.
    """

    def __init__(self, config: LocalConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.token = secrets.token_urlsafe(32)  # DynamoDB calls must carry it (cli/context.py says why)

    def _admitted(self, environ: dict[str, Any]) -> bool:
        given = environ.get("HTTP_" + LOCAL_TOKEN_HEADER.upper().replace("-", "_"), "")
        return hmac.compare_digest(given.encode("latin-1", "replace"), self.token.encode())

    def _key_needed(self, method: str, resource: str) -> bool:
        """Whether API Gateway would ask this request for the key: read from the API's own document."""
        return needs_credentials(self.config.counts_path, "apiKey", resource, method)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            status, headers, body = self._respond(environ, method)
        except Exception:  # noqa: BLE001 - the server's own last resort: logged, answered as JSON
            traceback.print_exc(file=sys.stderr)
            status, headers, body = _json_error(500, "internal_error", "the local server failed; see its log")
        start_response(f"{status} {_phrase(status)}", headers)
        if not self.config.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"{method} {environ.get('REQUEST_URI', '')} {status} {elapsed:.1f}ms", flush=True)
        return [] if method == "HEAD" else [body]

    def _respond(self, environ: dict[str, Any], method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        body = environ["wsgi.input"].read()  # waitress has buffered it, within its body limit
        headers = [(name[5:].replace("_", "-").title(), value) for name, value in environ.items()
                   if name.startswith("HTTP_")]
        if environ.get("CONTENT_TYPE"):
            headers.append(("Content-Type", environ["CONTENT_TYPE"]))
        if environ.get("CONTENT_LENGTH"):
            headers.append(("Content-Length", environ["CONTENT_LENGTH"]))
        target_header = environ.get("HTTP_X_AMZ_TARGET", "")
        # Browsers always send Origin on such a request, botocore never does: no web page can drive this.
        sdk_call = method == "POST" and target_header.startswith((DYNAMODB_TARGET, LOCAL_CONFIG_TARGET)) \
            and "HTTP_ORIGIN" not in environ
        if sdk_call and not (self.config.admin and _loopback(environ.get("REMOTE_ADDR", ""))):
            # From another machine (the server bound to 0.0.0.0): refused in DynamoDB's error shape, so the
            # CLI says why in one line; never counted as a hit.
            return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                "message": "the local API answers DynamoDB calls only from this machine (loopback): run the CLI "
                           "here with --endpoint http://127.0.0.1:PORT"}).encode()
        if sdk_call and not self._admitted(environ):
            # From this machine's loopback, but without the token: a forwarder's traffic, or another user's.
            return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                "message": f"the local API answers DynamoDB calls only with the token in its {LOCAL_TOKEN_HEADER} "
                           "file (python -m counts --endpoint sends it): run the CLI as the user who started it"}).encode()
        if sdk_call and target_header == LOCAL_CONFIG_TARGET:
            config = json.dumps({"config": self.config.stack_config or {}}, default=str).encode()
            return 200, [("Content-Type", "application/x-amz-json-1.0")], config
        if method == "POST" and target_header and not sdk_call and "HTTP_ORIGIN" not in environ:
            # Another AWS service's SDK call (an SQS client pointed here by mistake): no visitor's hit.
            return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps({
                "__type": "com.amazon.coral.service#UnknownOperationException",
                "message": "this is the route-counter local API: it answers DynamoDB calls and counted hits only"}).encode()
        if sdk_call:
            status, answer = self.backend.dynamodb_api(target_header, body)
            return status, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(answer, default=_wire).encode()
        refused = _unroutable(environ)
        if refused:
            return _json_error(400, "bad_request_target", refused)
        # REQUEST_URI is the raw request target, as Latin-1; put raw bytes back as %XX, as clients send them,
        # so the handlers' strict UTF-8 decoding sees exactly what arrived (API Gateway passes it encoded).
        target = quote(environ.get("REQUEST_URI", "/").encode("latin-1", "replace"), safe=_URL_SAFE)
        event, function = build_event(
            method, target, headers, body, counts_path=self.config.counts_path,
            guarded=bool(self.config.counts_api_key), stage=self.config.stage,
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"), request_id=str(uuid.uuid4()),
        )
        if self.config.counts_api_key and self._key_needed(method, event["resource"]) and \
                environ.get("HTTP_X_API_KEY") != self.config.counts_api_key:
            # API Gateway's answer to a missing or wrong key, in the gateway responses' JSON shape.
            return _json_error(403, "INVALID_API_KEY", "Forbidden", event["requestContext"]["requestId"])
        result = self.backend.invoke(function, event)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        out = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
        out += [(name, str(v)) for name, values in (result.get("multiValueHeaders") or {}).items() for v in values]
        out.append(("Content-Length", str(len(payload))))
        return int(result.get("statusCode", 200)), out, payload


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _unroutable(environ: dict[str, Any]) -> str | None:
    """Why API Gateway would never route this request target to a function, or None. It takes only
    origin-form targets ("/path?query", RFC 9112 section 3.2.1) over HTTP/1.x: an absolute URL, "*", a
    target without a leading slash or with a fragment, HTTP/0.9 and other versions never reach a handler."""
    target = environ.get("REQUEST_URI", "")
    if environ.get(HTTP_VERSION, environ.get("SERVER_PROTOCOL", "")[5:]) not in ("1.0", "1.1"):
        return "only HTTP/1.0 and HTTP/1.1 requests are served"
    if not target.startswith("/"):
        return "the request target must be a path starting with '/' (origin-form)"
    if "#" in target:
        return "a request target never holds a fragment ('#')"
    return None


def _json_error(status: int, code: str, message: str,
                request_id: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    payload = {"error": code, "message": message, **({"requestId": request_id} if request_id else {})}
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"),
                    ("Content-Length", str(len(body)))], body


# What API Gateway allows: 10 KB of request line and headers, a 10 MB payload.
MAX_HEADER_BYTES = 10_240
CHANNEL_TIMEOUT = 30  # seconds a connection may sit idle (or stall mid-request) before it is closed


@contextlib.contextmanager
def running(config: LocalConfig) -> Iterator[Any]:
    """Start the backend and bind the server (a waitress server: .effective_host/.effective_port, .run());
    closes both on exit."""
    from waitress.server import create_server

    backend = Backend(config)
    backend.start()
    try:
        app = LocalApp(config, backend)
        server = create_server(
            app,
            host=config.host,
            port=config.port,
            threads=8,
            channel_timeout=CHANNEL_TIMEOUT,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY,
            connection_limit=256,
            ident="route-counter-local",
            clear_untrusted_proxy_headers=True,
        )
        # waitress serves HTTP/0.9 and unknown versions as 1.0; the app must see what was asked for.
        server.channel_class = _versioned_channel()
    except BaseException:
        backend.stop()
        raise
    token_file = local_token_file(int(server.effective_port))
    try:
        try:
            token_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(app.token)
        except OSError as exc:  # the API still serves hits; only the CLI's calls are refused
            print(f"warning: cannot write {token_file} ({exc.strerror}): `python -m counts --endpoint` will be "
                  "refused; set XDG_RUNTIME_DIR to a folder of your own", file=sys.stderr, flush=True)
        yield server
    finally:
        with contextlib.suppress(OSError):
            token_file.unlink()
        server.close()
        backend.stop()


HTTP_VERSION = "route_counter.http_version"  # the environ key: the request line's own version ("" for 0.9)


def _versioned_channel() -> type:
    """waitress's channel, whose tasks also put the request line's own HTTP version in the environ."""
    from waitress.channel import HTTPChannel
    from waitress.task import WSGITask

    class VersionedTask(WSGITask):  # type: ignore[misc]
        def get_environment(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environment()
            environ[HTTP_VERSION] = self.request.version
            return environ

    class VersionedChannel(HTTPChannel):  # type: ignore[misc]
        task_class = VersionedTask

    return VersionedChannel


def configure_logging(quiet: bool = False) -> None:
    """Handler log lines as JSON with their extra fields, as Lambda's JSON log format shows them. Quiet
    drops the counter's metrics line too: it is for CloudWatch (EMF), not a terminal; errors still show."""

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
    # "Task queue depth is N": waitress's note that requests waited for a worker. Under a local load test
    # that is every request; it says nothing a developer can act on.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if quiet:
        logging.getLogger("route_counter.metrics").setLevel(logging.WARNING)
