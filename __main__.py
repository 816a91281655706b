"""route-counter: read the stack config once, build the RouteCounter component, export its outputs."""

import os

import pulumi

from route_counter.infra import settings as stack
from route_counter.infra.component import RouteCounter

config = pulumi.Config()
try:
    # The stack's region, where known, lets a certificate of another region be refused before anything is made.
    region = pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    settings = stack.parse({key: config.get(key) for key in stack.schema()}, region=region,
                           project_stack=(pulumi.get_project(), pulumi.get_stack()))
except stack.SettingsError as exc:
    raise pulumi.RunError(f"invalid stack config: {exc}") from None

route_counter = RouteCounter("route-counter", settings)
for output_name, value in route_counter.outputs.items():
    pulumi.export(output_name, value)
