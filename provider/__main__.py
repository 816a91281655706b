"""route-counter's Pulumi package: the Pulumi engine runs this folder as a plugin (PulumiPlugin.yaml) and
asks it for the schema and to construct RouteCounter and ApiMeter (route_counter.infra.package)."""

import sys

from route_counter.infra.package import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
