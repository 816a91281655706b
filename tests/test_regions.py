"""Active-active regions (replicaRegions, replicaOf): the global table the program declares, the replica
stack's use of it, and the counters of two regions against a model of last-writer-wins replication
(tests/partitions.py): one shared item loses increments, parts per region lose none."""

from __future__ import annotations

import json
import os

import pulumi
import pytest

from route_counter.handler import counter, listing
from route_counter.handler.rules import parts, schema
from route_counter.handler.rules.settings import TABLE_REGIONS, ConfigError, Settings
from route_counter.handler.store import queries
from route_counter.handler.store.dynamo import create_client
from route_counter.handler.store.spread import Spread
from route_counter.infra.settings import SettingsError, parse
from local.events import build_event
from tests.aws_shapes import ACCOUNT, REGION
from tests.conftest import TABLE, seeded_parts
from tests.partitions import GlobalTable
from tests.stack import Recorder, run_program
from tests.test_infra import check

TABLE_TYPE = "aws:dynamodb/table:Table"
HOME_TABLE = "route-counter-table-0f0f0f0"


def variables(recorder):
    return {f.name: f.inputs["environment"]["variables"] for f in recorder.of_type("aws:lambda/function:Function")}


@pulumi.runtime.test
def test_replica_regions_make_a_global_table_and_tell_every_function_the_regions():
    def assertions(recorder, component):
        (table,) = recorder.of_type(TABLE_TYPE)
        inputs = table.inputs
        assert (inputs["streamEnabled"], inputs["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
        assert [(r["regionName"], r["pointInTimeRecovery"]) for r in inputs["replicas"]] == [
            ("eu-west-1", True), ("ap-southeast-2", True)]
        env = variables(recorder)
        for function in ("route-counter-counter", "route-counter-listing"):
            assert env[function][TABLE_REGIONS] == f"{REGION},eu-west-1,ap-southeast-2"

    return check(run_program(replicaRegions="eu-west-1, ap-southeast-2"), assertions)


@pulumi.runtime.test
def test_one_region_has_no_replicas_and_an_empty_region_list():
    def assertions(recorder, _):
        (table,) = recorder.of_type(TABLE_TYPE)
        assert not table.inputs.get("replicas") and not table.inputs.get("streamEnabled")
        assert {env[TABLE_REGIONS] for env in variables(recorder).values() if TABLE_REGIONS in env} == {""}

    return check(run_program(), assertions)


def replica_recorder(regions: str) -> Recorder:
    recorder = Recorder()
    recorder.stacks["acme/route-counter/home"] = {"table_name": HOME_TABLE, "table_regions": regions}
    return recorder


@pulumi.runtime.test
def test_a_replica_stack_counts_into_the_replica_in_its_region_and_makes_no_table():
    def assertions(recorder, component):
        (table,) = recorder.of_type(TABLE_TYPE)
        assert table.inputs == {}  # read with get(): nothing declared, so nothing created or deleted
        env = variables(recorder)
        for function in ("route-counter-counter", "route-counter-listing"):
            assert env[function]["TABLE_NAME"] == HOME_TABLE
            assert env[function][TABLE_REGIONS] == f"eu-west-1,{REGION}"
        policy = json.loads(recorder.resources["route-counter-counter-policy"].inputs["policy"])
        table_arns = [s["Resource"] for s in policy["Statement"] if s["Sid"] == "Table"]
        assert table_arns == [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{HOME_TABLE}"]  # the replica, here

    recorder = replica_recorder(f"eu-west-1,{REGION}")
    return check(run_program(recorder=recorder, replicaOf="acme/route-counter/home"), assertions)


@pulumi.runtime.test
def _replica_where_the_table_has_none():
    return check(run_program(recorder=replica_recorder("eu-west-1,ap-southeast-2"), replicaOf="acme/route-counter/home"),
                 lambda recorder, _: None)


def test_a_replica_stack_in_a_region_the_table_does_not_reach_stops_in_one_line():
    with pytest.raises(Exception, match=rf"replicaOf: acme/route-counter/home's table has no replica in {REGION}"):
        _replica_where_the_table_has_none()


@pytest.mark.parametrize(("config", "message"), [
    ({"replicaRegions": "eu-west-1,europe"}, "replicaRegions: 'europe' is not an AWS region like eu-west-1"),
    ({"replicaRegions": "eu-west-1,eu-west-1"}, "replicaRegions: eu-west-1 is listed twice"),
    ({"replicaRegions": REGION}, f"is the stack's own region \\({REGION}\\)"),
    ({"replicaRegions": "eu-west-1", "replicaOf": "a/b/c"}, "replicaRegions and replicaOf exclude each other"),
    ({"replicaOf": "a/b/c", "meterLogGroup": "true"}, "meter and meterLogGroup belong with the global table's own stack"),
    ({"replicaOf": "just-a-name"}, "replicaOf must be a stack's org/project/stack"),
])
def test_bad_region_settings_are_refused_naming_the_key(config, message):
    with pytest.raises(SettingsError, match=message):
        parse(config, region=REGION)


def test_a_function_in_a_region_the_table_lacks_fails_at_init():
    with pytest.raises(ConfigError, match="runs in sa-east-1, which is not one of the table's regions"):
        Settings.from_env({**os.environ, TABLE_REGIONS: "us-east-1,eu-west-1", "AWS_REGION": "sa-east-1"})


# Two regions, one model of replication between them.

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def world(aws, clock):
    """The table in both regions (moto keeps regions apart), replicated after half a second."""
    model = GlobalTable(clock.monotonic, delay=0.5)
    for name in REGIONS:
        client = create_client(retries=False, region=name)
        client.create_table(**schema.create_table_kwargs(TABLE))
        model.add(name, client, TABLE)
    return model


def regional(name: str) -> Settings:
    return Settings.from_env({**os.environ, TABLE_REGIONS: ",".join(REGIONS), "AWS_REGION": name})


def hit_both(world, clock, n: int, spreads: dict[str, Spread]):
    """n hits a second in each region on one route, 10 ms apart, replication delivered as time passes."""
    for _ in range(n):
        for name in REGIONS:
            clock.advance(0.005)
            counter.SPREAD = spreads[name]
            event, _ = build_event("GET", "/r")
            assert counter.handle(event, None, regional(name), world.regions[name])["statusCode"] == 200
            world.pump(clock.monotonic())
    world.pump()


def total(world, name: str, read_regions) -> int:
    view = queries.View(1.8e9, regions=read_regions)
    record = queries.get_route(world.regions[name].client, TABLE, "/r", view)
    return record["count"] if record else 0


def test_one_shared_item_loses_increments_to_last_writer_wins(world, clock, report):
    shared = {name: Spread("", pick=seeded_parts()) for name in REGIONS}  # both regions write the one head
    hit_both(world, clock, 100, shared)
    lost = 200 - total(world, "us-east-1", ("",))
    assert total(world, "eu-west-1", ("",)) == total(world, "us-east-1", ("",))  # the replicas agree...
    assert lost > 0  # ...on a count short of the hits
    report.set("regions: increments lost of 200, one shared item (last writer wins)", lost)


def test_parts_per_region_lose_nothing_and_either_region_lists_the_sum(world, clock, report):
    own = {name: Spread(regional(name).own_part, pick=seeded_parts()) for name in REGIONS}
    hit_both(world, clock, 100, own)
    keys = {item[schema.KEY]["S"] for item in world.regions["us-east-1"].client.scan(TableName=TABLE)["Items"]}
    assert keys == {"/r", parts.head_key("/r", "eu-west-1")}  # each region wrote only its own item
    for name in REGIONS:
        assert total(world, name, regional(name).read_regions) == 200
        event, _ = build_event("GET", "/_counts?route=/r")
        answer = listing.handle(event, None, regional(name), lambda name=name: world.regions[name].client)
        assert json.loads(answer["body"])["count"] == 200
    report.set("regions: increments lost of 200, parts per region", 200 - total(world, "eu-west-1", ("", "eu-west-1")))
