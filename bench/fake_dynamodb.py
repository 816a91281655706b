"""A DynamoDB endpoint that answers at once: the same UpdateItem result for every write, and Scan pages of
realistic counter items (as many as a 1 MB page holds) up to TABLE_ITEMS in all.

Run as its own process so its CPU time is not charged to the handler under test. TCP_NODELAY and one
write per response: otherwise Nagle's algorithm plus delayed ACKs add ~40 ms per call and hide everything.
"""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TABLE_ITEMS = 50_000  # the listing's top=N scan budget: its worst case
PAGE_ITEMS = 5_000  # ~190 bytes an item: about what DynamoDB's 1 MB Scan page holds
BODY = b'{"Attributes":{"count":{"N":"42"}}}'


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: bench\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


RESPONSE = _response(BODY)


def _item(n: int) -> dict[str, dict[str, str]]:
    """An item as the counter writes it."""
    return {
        "route": {"S": f"/api/v1/items/{n:06d}"}, "count": {"N": str(n % 997 + 1)}, "count:GET": {"N": str(n % 997 + 1)},
        "firstSeen": {"S": "2026-11-01T08:00:00.000Z"}, "lastSeen": {"S": "2026-11-24T06:00:00.000Z"},
    }


def scan_page(request: dict) -> bytes:
    start = int(request.get("ExclusiveStartKey", {}).get("route", {}).get("S", "/api/v1/items/-1").rsplit("/", 1)[1]) + 1
    end = min(TABLE_ITEMS, start + min(PAGE_ITEMS, int(request.get("Limit", PAGE_ITEMS))))
    page: dict = {"Items": [_item(n) for n in range(start, end)], "Count": end - start, "ScannedCount": end - start}
    if end < TABLE_ITEMS:
        page["LastEvaluatedKey"] = {"route": page["Items"][-1]["route"]}
    return _response(json.dumps(page, separators=(",", ":")).encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target", "").endswith(".Scan"):
            self.wfile.write(scan_page(json.loads(body)))
        else:
            self.wfile.write(RESPONSE)  # one write: status line, headers and body together

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
