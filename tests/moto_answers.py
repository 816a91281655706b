"""What moto's DynamoDB answers to a run of the counter's own writes and some malformed ones, as JSON.

tests/test_local_stores.py runs it twice: in a process where local/moto_cache.py is installed, and in one
where it is not. The cache may change how fast moto answers, never what it answers. Nothing from tests'
conftest is imported here: the second process must be plain moto.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from route_counter.handler.rules import schema, update
from route_counter.handler.rules.limits import Limit

TABLE = "moto-answers"
T0 = 1_795_498_200.0  # a fixed instant: bucket names and dates do not move with the wall clock


def requests() -> list[dict[str, Any]]:
    """The same expressions again and again with other values, over hours and days, a rate limit that
    fills, and writes moto must refuse (a failed validation must not spoil the next use of its text)."""
    limit = Limit("/login/*", 2, "1h")
    found: list[dict[str, Any]] = []
    for n in range(12):
        at = T0 + n * 3_700
        found.append(update.hit_request(TABLE, update.Hit("/a", "GET" if n % 3 else "POST", at)))
        for _ in range(3):  # the third in one hour finds the window full: its condition fails
            found.append(update.hit_request(TABLE, update.Hit("/login/x", "POST", at, limit=limit)))
        found.append(update.hit_request(TABLE, update.Hit("/b", "GET", at, country="c:DE", new_visitor=n % 2 == 0,
                                                          expiry_days=30)))
    refused = [  # (expression, names, values)
        ("ADD #a :one SET #a = :one", {"#a": "count"}, {":one": {"N": "1"}}),  # one path twice
        ("ADD #a :one ADD #b :one", {"#a": "count", "#b": "bots"}, {":one": {"N": "1"}}),  # two ADD clauses
        ("ADD #a :text", {"#a": "count"}, {":text": {"S": "x"}}),  # ADD of a string to a number
        ("SET #a = #m + :one", {"#a": "count", "#m": "nothing"}, {":one": {"N": "1"}}),  # an absent operand
        ("SET #a = :one", {"#a": "route"}, {":one": {"S": "/b"}}),  # the key itself
    ]
    for expression, names, values in refused:
        found.append({"TableName": TABLE, "Key": schema.key("/a"), "ReturnValues": "ALL_NEW",
                      "UpdateExpression": expression, "ExpressionAttributeNames": names,
                      "ExpressionAttributeValues": values})
        found.append(update.hit_request(TABLE, update.Hit("/a", "GET", T0 + 99_000)))  # the same text after it
    return found


def answers() -> list[Any]:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**schema.create_table_kwargs(TABLE))
    out: list[Any] = []
    for request in requests():
        try:
            out.append(client.update_item(**request)["Attributes"])
        except client.exceptions.ClientError as exc:
            out.append({"error": exc.response["Error"], "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]})
    return out


def main() -> None:
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        json.dump(answers(), sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
