"""BASELINE -- not our code: the counter as the common tutorials and visitor-counter posts write it.

boto3's resource layer, the Table created at import, one update_item per hit; the path read from the
event. Kept only so `make bench` can measure ours against it on the same machine, table and events.
"""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    path = event["path"]
    result = table.update_item(
        Key={"route": path},
        UpdateExpression="ADD #count :one",
        ExpressionAttributeNames={"#count": "count"},
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"route": path, "count": int(result["Attributes"]["count"])}),
    }


def list_counts():
    """The tutorials' "get all counts": scan every page through the resource layer, sort by count."""
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(({"route": i["route"], "count": int(i["count"])} for i in items), key=lambda r: -r["count"])
