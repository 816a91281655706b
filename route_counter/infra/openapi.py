"""The REST API as one OpenAPI document: routes, Lambda integrations and gateway responses. Pure data.

Why a document and not Resource/Method/Integration resources: a Deployment snapshots the API when it is
created. With separate resources, a Deployment replaced because a route changed is created *before* the
removed routes are deleted (pulumi-aws#3289, "by design"), so a renamed ``countsPath`` kept serving the
old path forever. As the RestApi's ``body`` (imported in ``overwrite`` mode), every change, additions and
removals alike, lands in the API first; the Deployment, whose trigger is this document's hash, is then
replaced and the stage points at a snapshot of exactly this document.
"""

from __future__ import annotations

import json

import functools
import hashlib
from typing import Any

from route_counter.handler.web.events import PROXY_PARAM, PROXY_PART, PUBLIC_LISTING_SUBPATHS, resources

ANY_METHOD = "x-amazon-apigateway-any-method"
LISTING_METHODS = ("get", "head", "options")
TITLE = "route-counter"
# countsAccess: how a caller proves it may read the listing path (OPTIONS stays open: a CORS preflight
# carries no credentials). The badge and the dashboard page stay public: the page asks for the key.
SECURITY_SCHEMES = {
    "apiKey": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
    "iam": {"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                      "x-amazon-apigateway-authtype": "awsSigv4"}},
}

# API Gateway's own answers (throttled 429, 403 for a missing route, 502/504 from the integration) in the
# product's error shape. Which answer it was is API Gateway's response type (THROTTLED, INTEGRATION_TIMEOUT,
# ...); $context.error.messageString is already a quoted JSON string.
GATEWAY_ERROR_TEMPLATE = (
    '{"error":"$context.error.responseType","message":$context.error.messageString,'
    '"requestId":"$context.requestId"}'
)


def throttled_response(cors_origins: str, rate: int, burst: int) -> dict[str, Any]:
    """The stage's own 429 (every counted route shares its rate): the product's error shape, Retry-After,
    and which stack config key raises the limit."""
    message = (f"this API's stage takes {rate} requests a second (bursts of {burst}) across every route; try again "
               "shortly. Its owner raises it with: pulumi config set throttleRateLimit N (and throttleBurstLimit)")
    return {
        "statusCode": "429",
        "responseParameters": {**gateway_cors(cors_origins), "gatewayresponse.header.X-Content-Type-Options": "'nosniff'",
                               "gatewayresponse.header.Retry-After": "'1'"},
        "responseTemplates": {"application/json": json.dumps(
            {"error": "stage_throttled", "message": message, "requestId": "$context.requestId"}, separators=(",", ":"))},
    }


def _operation(invoke_arn: Any, proxy: bool, security: list[dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """One method: a Lambda proxy integration (Lambda is always invoked with POST)."""
    operation: dict[str, Any] = {
        "responses": {"200": {"description": "The function's answer, passed through."}},
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": invoke_arn,
        },
    }
    if proxy:
        operation["parameters"] = [{"name": PROXY_PARAM, "in": "path", "required": True, "schema": {"type": "string"}}]
    if security:
        operation["security"] = security
    return operation


def gateway_cors(cors_origins: str) -> dict[str, str]:
    """CORS headers on API Gateway's own answers, as the functions send them.

    A gateway response cannot choose among several allowed origins, so with more than one it echoes the
    request's Origin: these bodies are API Gateway's error messages, never counts.
    """
    origins = [o for o in cors_origins.split(",") if o]
    if origins == ["*"]:
        allow = "'*'"
    elif len(origins) == 1:
        allow = f"'{origins[0]}'"
    else:
        allow = "method.request.header.origin"
    headers = {"gatewayresponse.header.Access-Control-Allow-Origin": allow}
    if origins != ["*"]:
        headers["gatewayresponse.header.Vary"] = "'Origin'"
    return headers


def document(
    counter_invoke_arn: Any, listing_invoke_arn: Any, counts_path: str, cors_origins: str, counts_access: str = "public",
    throttle: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The whole API. Invoke ARNs may be Outputs (serialise with pulumi.Output.json_dumps).

    ``ANY /`` and ``ANY /{proxy+}`` go to the counter; ``/<countsPath>`` and ``/<countsPath>/{proxy+}`` go to
    the listing for every method (GET, HEAD, OPTIONS, and ANY so that other methods get its 405 with Allow
    rather than API Gateway's 403), so nothing under the listing path ever reaches the counter. With
    ``counts_access`` apiKey or iam, those methods but OPTIONS need the key or a signature, except on
    ``/<countsPath>/badge`` and ``/<countsPath>/dashboard``. ``throttle``, the stage's (rate, burst): its 429
    says so, and names the key that raises it.
    """
    schemes = SECURITY_SCHEMES.get(counts_access, {})
    guarded: list[dict[str, list[str]]] | None = [{name: []} for name in schemes] or None
    counts, public = f"/{counts_path}", {f"/{counts_path}/{sub}" for sub in PUBLIC_LISTING_SUBPATHS}
    paths: dict[str, Any] = {}
    for path in resources(counts_path, bool(guarded)):
        proxy = PROXY_PART in path
        if path != counts and not path.startswith(counts + "/"):
            paths[path] = {ANY_METHOD: _operation(counter_invoke_arn, proxy)}
            continue
        security = None if path in public else guarded
        paths[path] = {method: _operation(listing_invoke_arn, proxy, None if method == "options" else security)
                       for method in (*LISTING_METHODS, ANY_METHOD)}
    responses = {
        kind: {
            "responseParameters": {**gateway_cors(cors_origins),
                                   "gatewayresponse.header.X-Content-Type-Options": "'nosniff'"},
            "responseTemplates": {"application/json": GATEWAY_ERROR_TEMPLATE},
        }
        for kind in ("DEFAULT_4XX", "DEFAULT_5XX")
    }
    if throttle:
        responses["THROTTLED"] = throttled_response(cors_origins, *throttle)
    api: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": TITLE, "version": "1.0"},
        "paths": paths,
        "x-amazon-apigateway-gateway-responses": responses,
    }
    if schemes:
        api["components"] = {"securitySchemes": schemes}
    if counts_access == "apiKey":
        api["x-amazon-apigateway-api-key-source"] = "HEADER"
    return api


@functools.lru_cache(maxsize=256)  # the local server asks on every request: build the document once
def needs_credentials(counts_path: str, counts_access: str, resource: str, method: str) -> bool:
    """Whether the document guards ``method`` on ``resource`` (what API Gateway checks before a function
    runs): the local server asks this, so it guards exactly what the stack guards."""
    paths = document("", "", counts_path, "*", counts_access)["paths"]
    methods = paths.get(resource, {})
    operation = methods.get(method.lower()) or methods.get(ANY_METHOD) or {}
    return bool(operation.get("security"))


def digest(body: str) -> str:
    """The Deployment's trigger: any change to the document redeploys the stage, and nothing else does."""
    return hashlib.sha256(body.encode()).hexdigest()
