"""route-counter: count which routes of an API are used, on AWS, as Pulumi components.

``RouteCounter`` builds the whole stack (a REST API whose every route is counted, a read-only listing, the
table); ``ApiMeter`` meters APIs you already run from their access logs. The Lambda code ships inside this
package (``route_counter.handler``) and is zipped from the installed files.

The components are imported on first use, so the handlers, the local API and the admin CLI, which share
this package, never load Pulumi.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "RouteCounter": "route_counter.infra.component",
    "RouteCounterArgs": "route_counter.infra.component",
    "ApiMeter": "route_counter.infra.meter_component",
    "ApiMeterArgs": "route_counter.infra.meter_component",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'route_counter' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
