"""The Pulumi side: stack settings (pure) and the RouteCounter component."""
