"""Reading API Gateway REST Lambda-proxy events (payload format 1.0), validated at the edge.

The counted path comes from ``resource`` with its path parameters substituted (``/{proxy+}`` +
``pathParameters.proxy``), never from ``requestContext.path``, so the key does not depend on the stage
name or a custom domain's base path. The substituted path is still percent-encoded; routes.decode
decodes it once.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")

# The API's resource tree, shared by the Pulumi program and the local server:
#   /                      ANY -> counter
#   /{proxy+}              ANY -> counter
#   /<countsPath>          GET, HEAD, OPTIONS (+ ANY for a 405) -> listing
#   /<countsPath>/{proxy+} same -> listing (so nothing under the listing path is ever counted)
ROOT_RESOURCE = "/"
PROXY_PARAM = "proxy"
PROXY_PART = "{" + PROXY_PARAM + "+}"
# Under the listing path, what stays public when countsAccess guards the rest: the read-only badge and the
# dashboard page without counts (it asks for the key).
BADGE_PATH, DASHBOARD_PATH = "badge", "dashboard"
USAGE_PATH = "usage"  # /_counts/usage?month=2026-11: metered requests per API key (guarded like the listing)
PUBLIC_LISTING_SUBPATHS = (BADGE_PATH, DASHBOARD_PATH)


def resources(counts_path: str, guarded: bool) -> tuple[str, ...]:
    """The API's resources: the tree above, plus, on a guarded listing, the public badge and page (their
    own resources, without a key). The OpenAPI document and the local server both build from this."""
    counts = f"/{counts_path}"
    public = tuple(f"{counts}/{sub}" for sub in PUBLIC_LISTING_SUBPATHS) if guarded else ()
    return (ROOT_RESOURCE, f"/{PROXY_PART}", counts, f"{counts}/{PROXY_PART}", *public)


def match(path: str, counts_path: str, guarded: bool) -> tuple[str, dict[str, str] | None]:
    """The resource API Gateway matches a request path to, and its path parameters (None without any, as
    API Gateway sends them): an exact resource before a greedy one."""
    tree = resources(counts_path, guarded)
    if path in tree and "{" not in path:
        return path, None
    rest = path.lstrip("/")
    if not rest:
        return ROOT_RESOURCE, None
    head, _, tail = rest.partition("/")
    if head == counts_path:
        return (f"/{counts_path}/{PROXY_PART}", {PROXY_PARAM: tail}) if tail.strip("/") else (f"/{counts_path}", None)
    return f"/{PROXY_PART}", {PROXY_PARAM: rest}


def listing_subpath(request: Request, counts_path: str) -> str | None:
    """What a listing request asks for, from the resource API Gateway matched, never from the path
    parameter alone (a guarded stack's public resources have none): "" for the listing itself, "badge"
    for ``/_counts/badge`` whichever resource served it, None for a resource that is not the listing's."""
    counts = f"/{counts_path}"
    if request.resource == counts:
        return ""
    if request.resource == f"{counts}/{PROXY_PART}":
        return request.path_params.get(PROXY_PARAM, "").strip("/")
    public = {f"{counts}/{sub}": sub for sub in PUBLIC_LISTING_SUBPATHS}
    return public.get(request.resource)


class BadEvent(ValueError):
    """The input is not an API Gateway REST proxy event."""


class Request(NamedTuple):  # NamedTuple, not a dataclass: class creation is cheaper at cold start
    method: str
    resource: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    request_id: str
    source_ip: str = ""  # requestContext.identity.sourceIp: only ever hashed (handler/rules/visitors.py)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def raw_path(self) -> str:
        """The request path relative to the API root, still percent-encoded."""
        try:
            return _PLACEHOLDER.sub(lambda m: self.path_params[m.group(1)], self.resource)
        except KeyError as exc:
            raise BadEvent(f"resource {self.resource!r} needs path parameter {exc.args[0]!r}") from None


def _string_map(event: Mapping[str, Any], name: str) -> dict[str, str]:
    value = event.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadEvent(f"{name} must be an object of strings")
    return value


def parse(event: Any, context: Any = None) -> Request:
    """Validate the parts of the event the handlers use; anything else is a BadEvent (400)."""
    if not isinstance(event, dict):
        raise BadEvent("event must be a JSON object")
    if event.get("version") == "2.0":
        raise BadEvent("HTTP API payload format 2.0 is not supported; use a REST API proxy integration")
    method, resource = event.get("httpMethod"), event.get("resource")
    if not isinstance(method, str) or not method:
        raise BadEvent("httpMethod is missing")
    if not isinstance(resource, str) or not resource.startswith("/"):
        raise BadEvent("resource is missing")
    context_part = event.get("requestContext")
    if context_part is not None and not isinstance(context_part, dict):
        raise BadEvent("requestContext must be an object")
    request_id = (context_part or {}).get("requestId") or getattr(context, "aws_request_id", None) or ""
    identity = (context_part or {}).get("identity")
    source_ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    headers = {name.lower(): value for name, value in _string_map(event, "headers").items()}
    return Request(
        method=method.upper(),
        resource=resource,
        path_params=_string_map(event, "pathParameters"),
        query=_string_map(event, "queryStringParameters"),
        headers=headers,
        request_id=str(request_id),
        source_ip=source_ip if isinstance(source_ip, str) else "",
    )
