"""Stand-ins for the two DynamoDB limits #40 is about, in front of a real botocore client (moto):

- ``PartitionLimits``: one partition key value takes at most 1,000 write units and 3,000 read units a
  second ("Best practices for designing and using partition keys", and the throttling resolution guide:
  past it an on-demand table answers ``ThrottlingException`` with the reason
  ``TableWriteKeyRangeThroughputExceeded``). A write costs a unit per started KB of the item it leaves
  (1 KB = 1,024 bytes, sized by DynamoDB's rules: handler/rules/schema.item_size); an eventually
  consistent read half a unit per started 4 KB. Time is a virtual clock: each tenth of a second of it
  has a tenth of the budget per key.
- ``GlobalTable``: two regions' replicas of one table, each write shipped to the other region after a
  delay, where a whole item is kept or replaced by last-writer-wins ("Global tables: how it works",
  conflict resolution): the model the issue measured losing 37-50 % of ADDs from two regions.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

from botocore.exceptions import ClientError

from route_counter.handler.rules import schema

WRITE_UNITS, READ_UNITS = 1000, 3000  # per partition key value, per second
# DynamoDB refills a key's capacity smoothly (a token bucket), not once a second: the stand-in meters each
# tenth of a second with a tenth of the budget, so a request retried 100 ms later can find room again.
WINDOW = 0.1
THROTTLE_REASON = "TableWriteKeyRangeThroughputExceeded"


def throttled(operation: str, reason: str = THROTTLE_REASON) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Throughput exceeds the limit of a key range"},
                        "ThrottlingReasons": [{"reason": reason, "resource": "arn:aws:dynamodb:::table/t"}],
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def write_units(item: dict[str, Any] | None) -> int:
    return max(1, math.ceil(schema.item_size(item) / 1024)) if item else 1


class PartitionLimits:
    """A client (and the handlers' client factory) that throttles each key past its units per virtual second."""

    def __init__(self, client: Any, now: Callable[[], float], write_units: int = WRITE_UNITS,
                 read_units: int = READ_UNITS) -> None:
        self.client, self.now = client, now
        self.limits = {"write": write_units, "read": read_units}
        self.used: Counter[tuple[str, str, int]] = Counter()  # (kind, key, window) -> units
        self.sent: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.write_units = 0  # every write unit consumed
        self.read_units = 0.0  # every read unit consumed

    def __call__(self) -> Any:
        return self

    def _admit(self, kind: str, key: str, operation: str) -> None:
        if self.used[(kind, key, int(self.now() / WINDOW))] >= self.limits[kind] * WINDOW:
            self.throttled[operation] += 1
            raise throttled(operation, THROTTLE_REASON.replace("Write", "Read") if kind == "read" else THROTTLE_REASON)

    def _charge(self, kind: str, key: str, units: float) -> None:
        self.used[(kind, key, int(self.now() / WINDOW))] += units  # type: ignore[assignment]
        if kind == "write":
            self.write_units += int(units)
        else:
            self.read_units += units

    def update_item(self, **request: Any) -> dict[str, Any]:
        key = request["Key"][schema.KEY]["S"]
        self._admit("write", key, "UpdateItem")
        self.sent["UpdateItem"] += 1
        try:
            answer = self.client.update_item(**request)
        except ClientError:
            self._charge("write", key, 1)  # a failed condition costs a write unit too
            raise
        stored = answer.get("Attributes") if request.get("ReturnValues") == "ALL_NEW" else None
        self._charge("write", key, write_units(stored))
        return answer

    def put_item(self, **request: Any) -> dict[str, Any]:
        key = request["Item"][schema.KEY]["S"]
        self._admit("write", key, "PutItem")
        self.sent["PutItem"] += 1
        try:
            return self.client.put_item(**request)
        finally:
            self._charge("write", key, write_units(request["Item"]))

    def get_item(self, **request: Any) -> dict[str, Any]:
        key = request["Key"][schema.KEY]["S"]
        self._admit("read", key, "GetItem")
        self.sent["GetItem"] += 1
        self._charge("read", key, 1 if request.get("ConsistentRead") else 0.5)
        return self.client.get_item(**request)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        (table, wanted), = request["RequestItems"].items()
        keys = [k[schema.KEY]["S"] for k in wanted["Keys"]]
        for key in keys:
            self._admit("read", key, "BatchGetItem")
        self.sent["BatchGetItem"] += 1
        for key in keys:
            self._charge("read", key, 0.5)
        return self.client.batch_get_item(**request)

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        """Each item of a transaction costs twice its write units (DynamoDB's pricing: transactional writes)."""
        keys = [next(iter(op.values()))["Key" if "Update" in op else "Item"][schema.KEY]["S"] for op in request["TransactItems"]]
        for key in keys:
            self._admit("write", key, "TransactWriteItems")
        self.sent["TransactWriteItems"] += 1
        try:
            return self.client.transact_write_items(**request)
        finally:
            for key in keys:
                self._charge("write", key, 2)

    def __getattr__(self, name: str) -> Any:  # scans, deletes and the rest, unlimited
        return getattr(self.client, name)


class Region:
    """One region's replica: writes go to its own moto table and are shipped to the others."""

    def __init__(self, name: str, client: Any, table: str, world: GlobalTable) -> None:
        self.name, self.client, self.table, self.world = name, client, table, world

    def __call__(self) -> Any:
        return self

    def update_item(self, **request: Any) -> dict[str, Any]:
        answer = self.client.update_item(**request)
        key = request["Key"][schema.KEY]["S"]
        self.world.written(self, key)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class GlobalTable:
    """Replicas in several regions, replicated after ``delay`` virtual seconds, last writer wins per item."""

    def __init__(self, now: Callable[[], float], delay: float) -> None:
        self.now, self.delay = now, delay
        self.regions: dict[str, Region] = {}
        self.stamp: dict[tuple[str, str], float] = {}  # (region, key) -> time of the version it holds
        self.queue: list[tuple[float, str, str, dict[str, Any] | None, float]] = []
        self.overwritten = 0  # replicated versions that replaced a newer local one, or were dropped for one

    def add(self, name: str, client: Any, table: str) -> Region:
        self.regions[name] = region = Region(name, client, table, self)
        return region

    def written(self, region: Region, key: str) -> None:
        t = self.now()
        self.stamp[(region.name, key)] = t
        item = region.client.get_item(TableName=region.table, Key=schema.key(key), ConsistentRead=True).get("Item")
        for other in self.regions.values():
            if other is not region:
                self.queue.append((t + self.delay, other.name, key, item, t))

    def pump(self, until: float | None = None) -> None:
        """Deliver every replicated version due by ``until`` (all of them without one)."""
        due = [q for q in self.queue if until is None or q[0] <= until]
        self.queue = [q for q in self.queue if q not in due]
        for _, name, key, item, t in sorted(due, key=lambda q: q[0]):
            region = self.regions[name]
            if self.stamp.get((name, key), float("-inf")) > t:
                self.overwritten += 1  # the local version is newer: the replicated one is dropped
                continue
            if (name, key) in self.stamp and self.stamp[(name, key)] != t:
                self.overwritten += 1  # an older local version is replaced whole
            self.stamp[(name, key)] = t
            if item is None:
                region.client.delete_item(TableName=region.table, Key=schema.key(key))
            else:
                region.client.put_item(TableName=region.table, Item=item)
