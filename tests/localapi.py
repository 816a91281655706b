"""Start `python -m local` in a subprocess on an ephemeral loopback port, and talk to it over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class LocalApi:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = ["--port", "0", *args]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "TABLE_NAME"}
        self.env.update(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.banner: list[str] = []

    def __enter__(self) -> LocalApi:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local", *self.args],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()  # the banner's first line names the bound URL
        if "local API on http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"local API did not start: {line}{self.proc.stderr.read()}")
        self.banner.append(line)
        # Drain stderr all along: a full pipe would block the server on its next log line.
        self.stderr: list[str] = []
        self._drain = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self._drain.start()
        self.base = line.split(" on ")[1].split()[0]
        host, port = self.base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        return self

    def proof(self) -> dict[str, str]:
        """The header that admits a DynamoDB call: the token the server wrote for its user (cli/context.py)."""
        from route_counter.cli.context import LOCAL_TOKEN_HEADER, read_local_token

        return {LOCAL_TOKEN_HEADER: read_local_token(self.port)}

    def read_banner(self) -> list[str]:
        """The rest of the start-up banner, up to its "Ctrl-C to stop." line."""
        assert self.proc is not None and self.proc.stdout is not None
        while not self.banner[-1].startswith("Ctrl-C"):
            self.banner.append(self.proc.stdout.readline())
        return self.banner

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._drain.join(timeout)  # all it wrote is in self.stderr once stopped
        return code

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], Any]:
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            headers_out = {k.lower(): v for k, v in response.getheaders()}
            data = json.loads(raw) if raw and headers_out.get("content-type", "").startswith("application/json") else raw
            return response.status, headers_out, data
        finally:
            if own:
                conn.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
