"""The DynamoDB table schema: the one definition the Pulumi program, handlers, local server and tests share."""

from __future__ import annotations

from typing import Any, Mapping

# Partition key: the normalised route path. No sort key: one item per route.
KEY = "route"
KEY_TYPE = "S"

# Item attributes.
COUNT = "count"  # N, total hits
FIRST_SEEN = "firstSeen"  # S, ISO-8601 UTC
LAST_SEEN = "lastSeen"  # S, ISO-8601 UTC
# Per-method counts are top-level numbers named "count:GET", "count:POST", ...: top-level so that one
# UpdateItem can ADD to them (DynamoDB cannot ADD into a map attribute that does not exist yet).
METHOD_COUNT_PREFIX = "count:"

# The methods API Gateway REST APIs accept; OPTIONS is answered as a preflight and never counted.
COUNTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
KNOWN_METHODS = COUNTED_METHODS + ("OPTIONS",)


def method_attribute(method: str) -> str:
    """Attribute name holding the count of one HTTP method."""
    return METHOD_COUNT_PREFIX + method


def key(route: str) -> dict[str, dict[str, str]]:
    """The low-level DynamoDB key of a route."""
    return {KEY: {KEY_TYPE: route}}


def item_to_record(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A low-level DynamoDB item as the JSON record the listing API returns."""
    methods = {
        name[len(METHOD_COUNT_PREFIX):]: int(value["N"])
        for name, value in item.items()
        if name.startswith(METHOD_COUNT_PREFIX)
    }
    return {
        "route": item[KEY]["S"],
        "count": int(item[COUNT]["N"]) if COUNT in item else 0,
        "methods": dict(sorted(methods.items())),
        "firstSeen": item[FIRST_SEEN]["S"] if FIRST_SEEN in item else None,
        "lastSeen": item[LAST_SEEN]["S"] if LAST_SEEN in item else None,
    }


def record_to_item(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The inverse of item_to_record (for imports): a JSON record as a low-level DynamoDB item."""
    item = {KEY: {KEY_TYPE: record["route"]}, COUNT: {"N": str(int(record["count"]))}}
    for method, count in (record.get("methods") or {}).items():
        item[method_attribute(method)] = {"N": str(int(count))}
    for name in (FIRST_SEEN, LAST_SEEN):
        if record.get(name):
            item[name] = {"S": str(record[name])}
    return item


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for local and test tables, matching what the Pulumi program deploys."""
    return {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": KEY_TYPE}],
        "BillingMode": "PAY_PER_REQUEST",
    }
