"""The counter's two writers, lean and botocore, held to the same behaviour over real HTTP.

A moto server stands in for DynamoDB and a fault proxy sits between it and the counter (tests/stores.py),
so the checks do not depend on either client's internals: what was sent, what the store applied, what
the counter answered.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from route_counter.handler import counter
from route_counter.handler.rules import schema
from route_counter.handler.rules.settings import WRITERS
from route_counter.handler.store import dynamo, lean, queries
from route_counter.handler.store import writer as writer_module
from local.events import build_event
from tests.localapi import ROOT, wait_for
from tests.stores import FaultProxy, MotoServer, free_port

pytestmark = pytest.mark.e2e
_tables = itertools.count()


@pytest.fixture(scope="module")
def store():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def proxy(store):
    fault = FaultProxy(store.port)
    yield fault
    fault.stop()


@pytest.fixture
def table(store):
    name = f"lean-{next(_tables)}"
    store.client().create_table(**schema.create_table_kwargs(name))
    return name


def make_writer(kind: str, endpoint: str, monkeypatch, **env: str):
    """A writer of either kind aimed at ``endpoint``, as the counter would create it from its environment."""
    environment = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_SESSION_TOKEN": "session-token", "AWS_ENDPOINT_URL_DYNAMODB": endpoint, **env}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return counter.create_writer(kind)


def kept_alive_sockets(client) -> list:
    """The sockets a writer keeps between invocations: the lean one's, or those in botocore's urllib3 pools."""
    if isinstance(client, lean.LeanDynamoDB):
        return [client._conn.sock] if client._conn is not None and client._conn.sock is not None else []
    manager = client._endpoint.http_session._manager
    pools = [manager.pools[key] for key in list(manager.pools.keys())]
    return [conn.sock for pool in pools for conn in list(pool.pool.queue) if conn is not None and conn.sock is not None]


def hit(settings, table, client, route="/w"):
    event, _ = build_event("GET", route)
    response = counter.handle(event, None, settings._replace(table_name=table), lambda: client)
    return response["statusCode"], json.loads(response["body"])


def stored(store, table, route="/w"):
    item = store.client().get_item(TableName=table, Key=schema.key(route), ConsistentRead=True).get("Item")
    return int(item.get(schema.COUNT, {}).get("N", "0")) if item else 0


@pytest.mark.parametrize("kind", WRITERS)
def test_hits_count_over_one_kept_alive_connection(kind, store, proxy, table, settings, monkeypatch):
    client = make_writer(kind, proxy.url, monkeypatch)
    assert [hit(settings, table, client) for _ in range(5)] == [(200, {"route": "/w", "count": n}) for n in range(1, 6)]
    assert proxy.connections == 1 and proxy.forwarded == 5  # reused across invocations


@pytest.mark.parametrize("kind", WRITERS)
def test_a_connection_the_server_closed_meanwhile_is_replaced_before_sending(kind, store, proxy, table, settings,
                                                                              monkeypatch):
    """The store closes the kept-alive connection after answering (as while the function was frozen):
    the next hit notices before sending, opens a new connection, and counts once."""
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend(["close"])
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 1})
    # The close must reach the client before the next hit (the function was frozen meanwhile): first the
    # proxy closes, then the kernel delivers the FIN to the kept-alive socket, which a loaded machine can
    # defer. Without this the hit could meet the close mid-request: a different case (outcome unknown).
    assert proxy.closed.wait(10)
    kept = kept_alive_sockets(client)
    assert len(kept) == 1 and wait_for(lambda: lean.dropped(kept[0]))
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 2})
    assert proxy.connections == 2 and proxy.forwarded == 2 and stored(store, table) == 2


@pytest.mark.parametrize("kind", WRITERS)
@pytest.mark.parametrize("storm", [1, 3])
def test_a_throttled_hit_moves_to_a_hot_part_at_once_and_counts_once(kind, storm, store, proxy, table, settings,
                                                                     monkeypatch, clock):
    """The head throttled: the head is told its parts (that write retried within the budget while
    throttled), the hit goes to a part without sleeping, and the answer reads the parts' total."""
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend(["throttle"] * storm)
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 1})
    assert proxy.seen["throttle"] == storm and proxy.forwarded == 3  # parts listed, the hit, the total read
    assert stored(store, table) == 0 and summed(store, table) == 1
    assert len(clock.slept) == storm - 1 and clock.now < writer_module.RETRY_BUDGET


def summed(store, table, route="/w"):
    return sum(int(item.get(schema.COUNT, {}).get("N", "0")) for item in queries.route_items(store.client(), table, route))


@pytest.mark.parametrize("kind", WRITERS)
def test_throttling_past_the_budget_is_a_503_and_nothing_counted(kind, store, proxy, table, settings, monkeypatch):
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend(["throttle"] * 100)
    status, body = hit(settings, table, client)
    assert (status, body["error"]) == (503, "throttled") and proxy.forwarded == 0 and stored(store, table) == 0


@pytest.mark.parametrize("kind", WRITERS)
def test_a_transaction_conflict_is_retried_then_a_503_to_retry(kind, store, proxy, table, settings, monkeypatch):
    """TransactionConflictException: a transaction (the meter's, the CLI's) held the item; nothing applied."""
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend(["conflict"] * 2)
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 1})
    proxy.plan.extend(["conflict"] * 100)
    status, body = hit(settings, table, client)
    assert (status, body["error"]) == (503, "write_conflict") and proxy.forwarded == 1 and stored(store, table) == 1


@pytest.mark.parametrize("kind", WRITERS)
@pytest.mark.parametrize("fault", ["lose", "error"])
def test_a_lost_or_failed_answer_is_unknown_and_never_resent(kind, fault, store, proxy, table, settings, monkeypatch):
    """The store applied the write; the answer never came (or came as a 5xx): 503 outcome_unknown, sent once."""
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend([fault])
    status, body = hit(settings, table, client)
    assert (status, body["error"]) == (503, "outcome_unknown")
    assert proxy.forwarded == 1 and stored(store, table) == 1  # applied once, never re-sent
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 2})  # and the writer goes on


@pytest.mark.parametrize("kind", WRITERS)
def test_a_read_timeout_is_unknown_and_never_resent(kind, store, proxy, table, settings, monkeypatch):
    monkeypatch.setattr(lean, "READ_TIMEOUT", 0.3)  # the only waiting here: a real socket timing out
    monkeypatch.setattr(dynamo, "READ_TIMEOUT", 0.3)
    client = make_writer(kind, proxy.url, monkeypatch)
    proxy.plan.extend(["hang"])
    status, body = hit(settings, table, client)
    assert (status, body["error"]) == (503, "outcome_unknown") and proxy.forwarded == 1


@pytest.mark.parametrize("kind", WRITERS)
def test_a_refused_connection_is_retried_then_503(kind, settings, monkeypatch, clock):
    client = make_writer(kind, f"http://127.0.0.1:{free_port()}", monkeypatch)
    status, body = hit(settings, "any", client)
    assert (status, body["error"]) == (503, "storage_unavailable")
    assert len(clock.slept) >= 2 and clock.now < writer_module.RETRY_BUDGET  # retried: nothing was sent


@pytest.mark.parametrize("kind", WRITERS)
def test_a_missing_table_is_a_500_without_internals(kind, store, proxy, settings, monkeypatch):
    client = make_writer(kind, proxy.url, monkeypatch)
    status, body = hit(settings, "no-such-table", client)
    assert (status, body["error"]) == (500, "internal_error") and "ResourceNotFound" not in json.dumps(body)


@pytest.fixture(scope="module")
def authenticated_store():
    """A moto server that checks every signature, and credentials as Lambda has them: a role's temporary
    keys with a session token, the role allowed only dynamodb:UpdateItem (like the counter's)."""
    server = MotoServer(auth=True)
    import botocore.session

    def client(service, **creds):
        return botocore.session.get_session().create_client(service, region_name="us-east-1",
                                                            endpoint_url=server.url, **creds)

    def policy(statement):
        return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})

    bootstrap = client("iam", aws_access_key_id="x", aws_secret_access_key="x")  # the 3 unchecked calls
    user = bootstrap.create_user(UserName="admin")["User"]
    key = bootstrap.create_access_key(UserName="admin")["AccessKey"]
    bootstrap.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=policy({"Action": "*", "Resource": "*"}))
    admin = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    iam = client("iam", **admin)
    role = iam.create_role(RoleName="counter", AssumeRolePolicyDocument=policy(
        {"Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName="counter", PolicyName="table", PolicyDocument=policy(
        {"Action": "dynamodb:UpdateItem", "Resource": "*"}))
    client("dynamodb", **admin).create_table(**schema.create_table_kwargs("signed"))
    credentials = client("sts", **admin).assume_role(RoleArn=role["Arn"], RoleSessionName="lambda")["Credentials"]
    assert credentials["SessionToken"] and credentials["AccessKeyId"].startswith("ASIA")
    yield server, credentials
    server.stop()


def lambda_credentials(credentials, **changes):
    env = {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
           "AWS_SESSION_TOKEN": credentials["SessionToken"]}
    return {**env, **changes}


@pytest.mark.parametrize("kind", WRITERS)
def test_signatures_are_accepted_by_a_server_that_verifies_them(kind, authenticated_store, settings, monkeypatch):
    server, credentials = authenticated_store
    client = make_writer(kind, server.url, monkeypatch, **lambda_credentials(credentials))
    for route in ("/signed", "/caf\u00e9/\u65e5\u672c", "/" + "x" * 1000, "/a b/+%/\"q\""):
        status, body = hit(settings, "signed", client, route.replace("%", "%25").replace('"', "%22"))
        assert status == 200 and body["count"] >= 1, body


@pytest.mark.parametrize(
    "change",
    [{"AWS_SECRET_ACCESS_KEY": "wrong"}, {"AWS_SESSION_TOKEN": "wrong"}, {"AWS_SESSION_TOKEN": ""}],
    ids=["wrong-secret", "wrong-token", "no-token"],
)
@pytest.mark.parametrize("kind", WRITERS)
def test_a_wrong_signature_or_token_is_refused(kind, change, authenticated_store, settings, monkeypatch):
    server, credentials = authenticated_store
    client = make_writer(kind, server.url, monkeypatch, **lambda_credentials(credentials, **change))
    status, body = hit(settings, "signed", client, "/forged")
    assert (status, body["error"]) == (500, "internal_error")  # refused: the counter is misconfigured


REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "ca-central-1", "cn-north-1", "cn-northwest-1",
           "us-gov-west-1", "us-gov-east-1"]


@pytest.mark.parametrize("fips", [False, True])
@pytest.mark.parametrize("region", REGIONS)
def test_endpoints_are_the_ones_botocore_resolves(region, fips, monkeypatch):
    """The lean writer's endpoint for each partition, with and without FIPS, against botocore's own rules."""
    import botocore.session
    from botocore.config import Config

    if fips and region.startswith("cn-"):
        pytest.skip("AWS China has no FIPS endpoints")
    env = {"AWS_REGION": region, "AWS_USE_FIPS_ENDPOINT": "true" if fips else "false"}
    endpoint, signing_region = lean.resolve_endpoint(env)
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name=region, aws_access_key_id="a", aws_secret_access_key="b",
        config=Config(use_fips_endpoint=fips))
    expected = client.meta.endpoint_url
    if fips and region.startswith("us-gov-") and expected == f"https://dynamodb.{region}.amazonaws.com":
        # botocore's rules changed: older releases (1.35.36, the runtime floor) answer the regular GovCloud host (FIPS
        # validated), later ones dynamodb-fips.<region>. The lean writer follows the current rules.
        expected = f"https://dynamodb-fips.{region}.amazonaws.com"
    assert f"https://{endpoint.host}" == expected and signing_region == region


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000"}, ("http", "localhost", 8000, "localhost:8000")),
        ({"AWS_ENDPOINT_URL": "https://ddb.example:443"}, ("https", "ddb.example", 443, "ddb.example")),
        ({"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_DYNAMODB": "http://b:2"}, ("http", "b", 2, "b:2")),
    ],
)
def test_endpoint_overrides(env, expected):
    assert tuple(lean.resolve_endpoint({"AWS_REGION": "us-east-1", **env})[0]) == expected


@pytest.mark.parametrize("env", [{}, {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "ftp://x"}])
def test_an_environment_that_cannot_say_where_is_refused(env):
    with pytest.raises(lean.ConfigError):
        lean.resolve_endpoint(env)


def test_tls_is_verified_against_the_system_trust_store():
    client = lean.LeanDynamoDB.from_env({"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert client.endpoint.scheme == "https" and client._context is not None
    import ssl

    assert client._context.verify_mode == ssl.CERT_REQUIRED and client._context.check_hostname
    # The trust store is read once a process (about 20 ms), not once a writer.
    other = lean.LeanDynamoDB.from_env({"AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "c", "AWS_SECRET_ACCESS_KEY": "d"})
    assert other._context is client._context


def test_a_lean_cold_start_imports_no_botocore():
    """What Lambda runs on a cold start with the default writer: the handler module, then its writer."""
    code = (
        "import os, sys\n"
        "from route_counter.infra import settings\n"
        "os.environ.update(settings.parse({}).handler_environment('t'))\n"
        "os.environ.update(AWS_REGION='us-east-1', AWS_ACCESS_KEY_ID='a', AWS_SECRET_ACCESS_KEY='b')\n"
        "sys.modules.pop('yaml', None)\n"
        "from route_counter.handler import counter\n"
        "counter._dynamodb()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'urllib3')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", WRITERS)
def test_an_ignored_address_reads_the_count_and_writes_nothing_with_either_writer(kind, store, proxy, table, settings,
                                                                                   monkeypatch):
    """ignoreIps: the writer's GetItem, signed like its UpdateItem, shows the count as it stands."""
    from route_counter.handler.rules.addresses import parse_networks

    client = make_writer(kind, proxy.url, monkeypatch)
    assert hit(settings, table, client) == (200, {"route": "/w", "count": 1})
    ignoring = settings._replace(ignored=parse_networks("127.0.0.0/8"))  # build_event's source address
    assert hit(ignoring, table, client) == (200, {"route": "/w", "count": 1})
    assert proxy.forwarded == 2 and stored(store, table) == 1  # one write, one read


@pytest.mark.parametrize("kind", WRITERS)
def test_idempotency_keys_over_http_on_both_writers(kind, store, proxy, table, settings, monkeypatch):
    """The hit and its claim as one TransactWriteItems; a repeat's cancellation reasons (the claim's
    ConditionalCheckFailed, with the item it found) reach the counter alike from either writer."""
    client = make_writer(kind, proxy.url, monkeypatch)
    answers = []
    for key in ("k1", "k1", "k2"):
        event, _ = build_event("POST", "/w", [("Idempotency-Key", key)])
        response = counter.handle(event, None, settings._replace(table_name=table), lambda: client)
        answers.append((response["statusCode"], json.loads(response["body"])["count"],
                        response["headers"].get("Idempotent-Replayed")))
    assert answers == [(200, 1, None), (200, 1, "true"), (200, 2, None)] and stored(store, table) == 2
