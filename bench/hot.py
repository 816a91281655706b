"""Hot routes, retried requests and regions for `make bench` (issue #40): hits a second one route sustains
with parts off and on, requests and write units per cold, hot and idempotent hit and their cost per
million, and increments lost to last-writer-wins with one shared item and with parts per region. The
store is moto behind the per-key throughput stand-in and the replication model of tests/partitions.py,
on a virtual clock: the figures are the model's, the same every run."""

from __future__ import annotations

import os
from typing import Any

from bench.metering import RRU, WRU

TABLE = "route-counts-bench-hot"
OFFERED, SECONDS = 12_000, 0.3  # hits a second on one route, for this long (virtual time)


def _world(create: bool = True) -> Any:
    from route_counter.handler import clock
    from route_counter.handler.rules import schema
    from route_counter.handler.store.dynamo import create_client

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def time(self) -> float:
            return 1795498200.0 + self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    clock.CLOCK = clock.Clock(fake.time, fake.monotonic, fake.sleep)
    if create:
        create_client(retries=True).create_table(**schema.create_table_kwargs(TABLE))
    return fake


def _settings(**changes: Any) -> Any:
    from route_counter.handler.rules.settings import Settings
    from route_counter.infra import settings as stack

    env = stack.parse({}).handler_environment(TABLE)
    return Settings.from_env({**os.environ, **env})._replace(**changes)


def _offer(limits: Any, settings: Any, fake: Any, rate: float, seconds: float, route: str = "/hot",
           headers: list[tuple[str, str]] | None = None) -> tuple[int, int]:
    """Hits through the real handler, each at its own arrival time: how many were answered 200, and how
    many of those were answered while the load lasted (a throttled hit's retries take it past the end)."""
    from route_counter.handler import counter
    from local.events import build_event

    ok = in_time = 0
    start = fake.now
    for i in range(int(rate * seconds)):
        fake.now = start + (i + 1) / rate
        event, _ = build_event("GET", route, [(name, f"{value}-{i}") for name, value in headers or []])
        if counter.handle(event, None, settings, limits)["statusCode"] == 200:
            ok += 1
            in_time += fake.now <= start + seconds
    return ok, in_time


def sustained(parts_on: bool) -> float:
    """Hits a second one route sustains at OFFERED hits a second, each counted exactly once: those answered
    200 while the load lasted, over that time."""
    import random

    from moto import mock_aws

    from route_counter.handler import counter
    from route_counter.handler.store.dynamo import create_client
    from route_counter.handler.store.spread import Spread
    from tests.partitions import PartitionLimits

    class Whole(Spread):
        def can_spread(self, route: str) -> bool:
            return False

    with mock_aws():
        fake = _world()
        draw = random.Random(40)
        random.seed(40)
        counter.SPREAD = Spread(pick=lambda n: 1 + draw.randrange(n)) if parts_on else Whole()
        limits = PartitionLimits(create_client(retries=False), fake.monotonic)
        return _offer(limits, _settings(), fake, OFFERED, SECONDS)[1] / SECONDS


def per_hit() -> dict[str, dict[str, float]]:
    """Requests, write units and read units per hit: a cold route, a hot one (steady, past its first
    second), and a cold one whose every hit carries an Idempotency-Key."""
    from moto import mock_aws

    from route_counter.handler import counter
    from route_counter.handler.store.dynamo import create_client
    from route_counter.handler.store.spread import Spread
    from tests.partitions import PartitionLimits

    found: dict[str, dict[str, float]] = {}
    cases = {"cold": (50.0, 2.0, None, 0.0), "hot (10,000/s, after its first 0.3 s)": (10_000.0, 0.1, None, 0.3),
             "idempotent (Idempotency-Key)": (50.0, 2.0, [("Idempotency-Key", "k")], 0.0)}
    for label, (rate, seconds, headers, warmup) in cases.items():
        with mock_aws():
            fake = _world()
            counter.SPREAD = Spread()
            limits = PartitionLimits(create_client(retries=False), fake.monotonic)
            if warmup:
                _offer(limits, _settings(), fake, rate, warmup)
                limits.sent.clear()
                limits.write_units = 0
                limits.read_units = 0.0
            hits = _offer(limits, _settings(), fake, rate, seconds, headers=headers)[0]
            requests = sum(limits.sent.values())
            found[label] = {"requests": requests / hits, "wcu": limits.write_units / hits, "rcu": limits.read_units / hits}
            found[label]["per_million"] = 1e6 * (found[label]["wcu"] * WRU + found[label]["rcu"] * RRU)
    return found


def regions_lost(hits: int = 100) -> dict[str, int]:
    """Increments lost of 2 x ``hits`` (one route, two regions, half a second's replication delay)."""
    from moto import mock_aws

    from route_counter.handler import counter
    from route_counter.handler.rules.settings import TABLE_REGIONS, Settings
    from route_counter.handler.store import queries
    from route_counter.handler.store.dynamo import create_client
    from route_counter.handler.rules import schema
    from route_counter.handler.store.spread import Spread
    from local.events import build_event
    from tests.partitions import GlobalTable

    regions = ("us-east-1", "eu-west-1")
    lost = {}
    for label, own in (("one shared item", False), ("parts per region", True)):
        with mock_aws():
            fake = _world(create=False)
            world = GlobalTable(fake.monotonic, delay=0.5)
            for name in regions:
                client = create_client(retries=False, region=name)
                client.create_table(**schema.create_table_kwargs(TABLE))
                world.add(name, client, TABLE)
            settings = {name: Settings.from_env({**os.environ, **_env(), TABLE_REGIONS: ",".join(regions), "AWS_REGION": name})
                        for name in regions}
            spreads = {name: Spread(settings[name].own_part if own else "") for name in regions}
            for _ in range(hits):
                for name in regions:
                    fake.now += 0.005
                    counter.SPREAD = spreads[name]
                    event, _ = build_event("GET", "/r")
                    counter.handle(event, None, settings[name], world.regions[name])
                    world.pump(fake.now)
            world.pump()
            view = queries.View(fake.time(), regions=settings["us-east-1"].read_regions if own else ("",))
            record = queries.get_route(world.regions["us-east-1"].client, TABLE, "/r", view)
            lost[label] = 2 * hits - (record["count"] if record else 0)
    return lost


def _env() -> dict[str, str]:
    from route_counter.infra import settings as stack

    return stack.parse({}).handler_environment(TABLE)


def numbers() -> dict[str, Any]:
    import logging

    logging.getLogger("route_counter").setLevel(logging.CRITICAL)  # the throttled hits' 503s, by the thousand
    return {"off": sustained(False), "on": sustained(True), "per_hit": per_hit(), "lost": regions_lost()}
