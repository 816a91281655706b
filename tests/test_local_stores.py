"""Exact counts under concurrency: why the embedded store is serialised, and the same check on dynalite."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from route_counter.handler import counter, listing
from route_counter.infra import settings as stack
from local.events import build_event
from local.server import Backend, LocalConfig
from tests.conftest import TABLE, stored
from tests.localapi import LocalApi, wait_for
from tests.test_local_api import expected_counts, hammer

DYNALITE = Path(__file__).parent / "dynalite" / "node_modules" / "dynalite" / "cli.js"


def run_threads(backend: Backend, route: str, threads: int = 8, per_thread: int = 250) -> None:
    event, function = build_event("GET", route)

    def work() -> None:
        for _ in range(per_thread):
            backend.invoke(function, event)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@pytest.fixture(autouse=True)
def _restore_environ():
    """An in-process backend sets the handlers' environment (the store's endpoint among it) in os.environ,
    as the local server does: put it back for the tests that follow."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def embedded_backend(monkeypatch) -> Backend:
    """The local backend in-process, with the GIL switching as often as it can."""
    monkeypatch.setattr(counter, "_client", None)
    monkeypatch.setattr(listing, "_client", None)
    environment = stack.parse({}).handler_environment(TABLE)
    return Backend(LocalConfig("127.0.0.1", 0, TABLE, "_counts", "local", environment))


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


def test_embedded_store_is_exact_under_concurrency(monkeypatch, fast_switching):
    backend = embedded_backend(monkeypatch)
    try:
        backend.start()
        run_threads(backend, "/locked", per_thread=100)
        assert stored(backend.store, "/locked")["count"] == 800
    finally:
        backend.stop()


@pytest.mark.skipif(not os.environ.get("RUN_DEPENDENCY_PROBES"),
                    reason="a probe of moto itself (fails the day moto is fixed): RUN_DEPENDENCY_PROBES=1 to run it")
def test_probe_moto_loses_concurrent_adds_without_the_lock(monkeypatch, fast_switching):
    """Why the embedded store is serialised: the same load without the lock loses increments in moto."""
    backend = embedded_backend(monkeypatch)
    try:
        backend.start()
        backend._lock = contextlib.nullcontext()
        lost = 0
        for attempt in range(3):
            route = f"/unlocked{attempt}"
            run_threads(backend, route, per_thread=100)
            lost = 800 - stored(backend.store, route)["count"]
            if lost:
                break
        assert lost > 0, "moto no longer loses concurrent ADDs: the lock may be unnecessary"
    finally:
        backend.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dynalite():
    node = shutil.which("node")
    if not node or not DYNALITE.exists():
        if os.environ.get("CI"):
            pytest.fail("dynalite must run in CI: `make test` installs it with npm (tests/dynalite)")
        pytest.skip("dynalite not installed (needs node and npm: `make test` installs it when npm exists)")
    port = free_port()
    proc = subprocess.Popen([node, str(DYNALITE), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        assert wait_for(listening, 20), "dynalite did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.e2e
@pytest.mark.parametrize("routes", [["/hot"], [f"/many/{i}" for i in range(5)]], ids=["one-route", "five-routes"])
def test_concurrent_hits_are_exact_on_dynalite(dynalite, routes):
    table = f"counts-{len(routes)}"
    with LocalApi("--quiet", "--dynamodb-endpoint", dynalite, "--table", table) as api:
        assert "DynamoDB at" in api.banner[0]
        assert hammer(api, routes) == []
        _, _, body = api.request("GET", "/_counts?limit=1000")
        assert {r["route"]: r["count"] for r in body["routes"]} == expected_counts(routes)


def test_the_embedded_store_s_cache_changes_no_answer_of_moto(capsys):
    """local/moto_cache.py (installed for make dev and these tests) against plain moto in a fresh process:
    the counter's writes over hours, a rate limit that fills and refused expressions answer alike."""
    from local import moto_cache
    from tests import moto_answers

    assert moto_cache.install(), "moto is not the release local/moto_cache.py knows: check it against the new one"
    moto_answers.main()
    cached = json.loads(capsys.readouterr().out)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    plain = subprocess.run([sys.executable, "-m", "tests.moto_answers"], cwd=Path(__file__).parent.parent, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert cached == json.loads(plain.stdout)
    assert sum("error" in answer for answer in cached) == 17  # the refused writes were refused
