"""A DynamoDB-compatible server over real HTTP (moto's server mode, in a subprocess) and a fault proxy in
front of it, so the counter's writers are tested at the HTTP level, whatever client they use."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections import Counter, deque
from typing import Any

from tests.localapi import wait_for

THROTTLED = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"})
CONFLICT = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                       "message": "Transaction is ongoing for the item"})
SERVER_ERROR = json.dumps({"__type": "com.amazon.coral.availability#InternalServerError", "message": "oops"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """`python -m moto.server` on a loopback port. With ``auth`` on, every request after the first few
    (INITIAL_NO_AUTH_ACTION_COUNT, used to create an IAM user) must carry a valid SigV4 signature."""

    def __init__(self, auth: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        if not wait_for(up, timeout=30):
            self.stop()
            raise RuntimeError("moto server did not start")

    def client(self, **credentials: str) -> Any:
        """A plain botocore client of this server (botocore's own retries: it reads and sets up)."""
        import botocore.session

        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test", **credentials}
        return botocore.session.get_session().create_client("dynamodb", region_name="us-east-1",
                                                            endpoint_url=self.url, **creds)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def read_request(rfile: Any) -> bytes | None:
    """One HTTP request (headers and a Content-Length body) as bytes; None at EOF."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline(65536)
        if not line:
            return None
        head += line
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (rfile.read(length) if length else b"")


def response(status: int, body: str, close: bool = False) -> bytes:
    data = body.encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
    extra = b"Connection: close\r\n" if close else b""
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(data)}\r\n").encode() + extra + b"\r\n" + data


class FaultProxy:
    """An HTTP/1.1 proxy that does to each request what its plan says (default: forward):

    - ``throttle``: answer ThrottlingException without forwarding (nothing applied)
    - ``conflict``: answer TransactionConflictException without forwarding (nothing applied)
    - ``lose``: forward, let the store apply it, then drop the connection instead of answering
    - ``error``: forward, then answer 500 instead of the store's answer (applied, outcome unknown)
    - ``hang``: forward, then say nothing until the client gives up (a read timeout)
    - ``close``: forward and answer, then close the kept-alive connection (as a server does with a
      connection that sat idle while the Lambda function was frozen)
    """

    def __init__(self, upstream_port: int) -> None:
        self.plan: deque[str] = deque()
        self.seen: Counter[str] = Counter()  # what happened, by action
        self.connections = 0
        self.forwarded = 0
        self.closed = threading.Event()  # set once a ``close`` action has closed its connection
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy.connections += 1
                while (request := read_request(self.rfile)) is not None:
                    action = proxy.plan.popleft() if proxy.plan else "forward"
                    proxy.seen[action] += 1
                    if action in ("throttle", "conflict"):
                        self.wfile.write(response(400, THROTTLED if action == "throttle" else CONFLICT))
                        continue
                    # One upstream connection a request: moto's server closes its connections after answering.
                    with socket.create_connection(("127.0.0.1", upstream_port), timeout=10) as upstream:
                        answer = proxy._exchange(upstream, request)
                    if action == "lose":
                        return
                    if action == "hang":
                        threading.Event().wait(30)  # the client times out first; then its socket closes
                        return
                    self.wfile.write(response(500, SERVER_ERROR) if action == "error" else answer)
                    if action == "close":
                        self.wfile.flush()
                        self.request.close()  # here, not after handle() returns: tests wait on `closed`
                        proxy.closed.set()
                        return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _exchange(self, upstream: socket.socket, request: bytes) -> bytes:
        """Send one request upstream (the store applies it) and read its whole answer."""
        self.forwarded += 1
        upstream.sendall(request)
        reader = upstream.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += reader.readline(65536)
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = reader.read(length)
        # Answer as DynamoDB does, HTTP/1.1 with the connection kept alive (moto's server speaks HTTP/1.0).
        lines = head.rstrip(b"\r\n").split(b"\r\n")
        lines[0] = lines[0].replace(b"HTTP/1.0", b"HTTP/1.1", 1)
        kept = [line for line in lines if not line.lower().startswith(b"connection:")]
        return b"\r\n".join(kept) + b"\r\n\r\n" + body

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

