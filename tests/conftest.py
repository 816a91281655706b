"""Shared fixtures: fake AWS credentials -> moto -> a table built from the shared schema -> the handlers."""

from __future__ import annotations

import json
import os
import random

# Before any handler or botocore client exists: nothing in the tests may reach real AWS.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)
# The handlers' environment exactly as the Pulumi program builds it, from Pulumi.yaml's defaults.
from route_counter.infra import settings as _stack  # noqa: E402

os.environ.update(_stack.parse({}).handler_environment("route-counts-test"))

from collections import Counter  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings as hypothesis_settings  # noqa: E402
from moto import mock_aws  # noqa: E402

from local import moto_cache  # noqa: E402

moto_cache.install()  # the embedded store's caching (make dev's): the same answers, half the CPU

from route_counter.handler import counter  # noqa: E402
from route_counter.handler.rules import meter_schema, parts, schema
from route_counter.handler.store import queries
from route_counter.handler.store.spread import Spread
from route_counter.handler.store.dynamo import create_client  # noqa: E402
from route_counter.handler.rules.settings import Settings  # noqa: E402
from local.events import build_event  # noqa: E402
from tests.faults import Faults  # noqa: E402

TABLE = os.environ["TABLE_NAME"]

# Property tests: repeatable locally (derandomised), fresh random seeds and 10x the examples in CI.
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXAMPLES_SCALE = 10 if CI else 1
_common = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
hypothesis_settings.register_profile("dev", derandomize=True, **_common)
hypothesis_settings.register_profile("ci", derandomize=False, print_blob=True, **_common)
hypothesis_settings.load_profile("ci" if CI else "dev")


def examples(n: int) -> int:
    """How many examples a property test runs here: n locally, 10n in CI."""
    return n * EXAMPLES_SCALE


@pytest.fixture(autouse=True)
def _fresh_containers():
    """Each test is a fresh Lambda container: no top=N answer memoised by an earlier test."""
    from route_counter.handler import listing

    listing._top_cache.clear()
    counter.SPREAD = Spread(pick=seeded_parts())  # no route is hot in a fresh container
    random.seed(40)  # the write path's backoff jitter: the same sleeps every run
    yield
    listing._top_cache.clear()


def seeded_parts(seed: int = 40):
    """The hot part a hit tries, drawn from a seeded generator: the same parts every run."""
    import random

    draw = random.Random(seed)
    return lambda n: 1 + draw.randrange(n)


# Where every test's wall clock starts: 2026-11-24T05:30:00Z.
START = 1795498200.0


class FakeClock:
    """Time that moves only when the code under test sleeps or a test moves it: retries cost no wall-clock
    time and no test waits to cross an hour or a day."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return START + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FakeClock:
    """Every test runs on a fake clock (handler.clock.CLOCK): the write path's retries and the wall clock."""
    from route_counter.handler import clock as handler_clock

    fake = FakeClock()
    monkeypatch.setattr(handler_clock, "CLOCK", handler_clock.Clock(fake.time, fake.monotonic, fake.sleep))
    return fake


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def table(aws) -> str:
    create_client(retries=True).create_table(**schema.create_table_kwargs(TABLE))
    return TABLE


@pytest.fixture
def writer(table):
    """A client configured like the counter's (one attempt), with fault injection and a call log."""
    return Faults(create_client(retries=False))


@pytest.fixture
def reader(table):
    """A client configured like the listing's (botocore retries on), with a call log."""
    return Faults(create_client(retries=True))


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(os.environ)


@pytest.fixture
def hits(writer, settings):
    """Record hits through the real counter handler: {route: count}."""

    def record(counts: dict[str, int]) -> None:
        for route, n in counts.items():
            for _ in range(n):
                event, _ = build_event("GET", route)
                assert counter.handle(event, None, settings, writer)["statusCode"] == 200

    return record


def stored(client, route: str) -> dict | None:
    """The record stored for a route, its parts summed (handler/rules/parts.py), read around any fault
    injection."""
    items = queries.route_items(client, TABLE, route)
    return schema.item_to_record(parts.merge(route, items)) if items else None


class Report:
    """Figures the reliability tests measure; printed at the end of `make test` (docs/reliability.md)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.values: dict[str, str] = {}

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def set(self, name: str, value: object) -> None:
        self.values[name] = str(value)


REPORT = Report()


@pytest.fixture(scope="session")
def report() -> Report:
    return REPORT


# The files that take longest, longest first (`make test PYTEST_ARGS=--durations=30`): pytest-xdist hands
# out whole files in collection order, so a long file taken last would keep one worker busy while the
# other idles. Any order passes; this one ends the run sooner.
LONGEST_FIRST = ("tests/engine/test_engine.py", "tests/engine/test_package.py", "tests/test_local_api.py",
                 "tests/engine/test_new.py", "tests/engine/test_library.py", "tests/test_meter_files.py",
                 "tests/test_load.py", "tests/test_lean.py", "tests/test_browser.py", "tests/test_meter.py",
                 "tests/test_cli.py")


def pytest_collection_modifyitems(items) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: files keep order


def pytest_sessionfinish(session) -> None:
    """Under pytest-xdist each worker measures its share: it hands its figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["reliability"] = json.dumps({"counts": REPORT.counts, "values": REPORT.values})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller adds up what each worker measured (pytest-xdist's hook; absent without it)."""
    found = json.loads(getattr(node, "workeroutput", {}).get("reliability") or "{}")
    REPORT.counts.update(found.get("counts", {}))
    REPORT.values.update(found.get("values", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    if REPORT.counts or REPORT.values:
        terminalreporter.section("reliability figures")
        for name, n in sorted(REPORT.counts.items()):
            terminalreporter.write_line(f"{name}: {n}")
        for name, value in sorted(REPORT.values.items()):
            terminalreporter.write_line(f"{name}: {value}")


METER = "route-counts-test-meter"


@pytest.fixture
def metering(table):
    """A metering stack's settings (the shop API's log group, a template), its tables on moto."""
    from route_counter.handler.rules.settings import METER_SOURCES, METER_TABLE, METER_VARIABLES

    client = create_client(retries=True)
    client.create_table(**meter_schema.meter_table_kwargs(METER))
    env = {**os.environ, METER_TABLE: METER, METER_SOURCES: "shop=/aws/apigateway/shop-prod",
           "ROUTE_TEMPLATES": "/orders/{id}"}
    return Settings.from_env(env, METER_VARIABLES)
