"""Handler configuration from the Lambda environment, parsed once per container."""

from __future__ import annotations

from typing import Mapping, NamedTuple

from handler.routes import DEFAULT_MAX_ROUTE_BYTES, DYNAMODB_KEY_LIMIT, RouteRules, parse_prefixes, parse_templates, split_list

# Environment variable names: the Pulumi program and the local server set exactly these.
TABLE_NAME = "TABLE_NAME"
CORS_ORIGINS = "CORS_ORIGINS"
MAX_ROUTE_BYTES = "MAX_ROUTE_BYTES"
ALLOW_PREFIXES = "ALLOW_PREFIXES"
ROUTE_TEMPLATES = "ROUTE_TEMPLATES"

ANY_ORIGIN = "*"


class ConfigError(RuntimeError):
    """The environment is misconfigured; raised at import so the function fails at init, not per request."""


class Settings(NamedTuple):
    table_name: str
    cors_origins: tuple[str, ...] = (ANY_ORIGIN,)
    rules: RouteRules = RouteRules()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse and validate; every problem names the variable and what it accepts."""
        table = env.get(TABLE_NAME, "").strip()
        if not table:
            raise ConfigError(f"{TABLE_NAME} is required: the DynamoDB table holding the counts")
        raw_max = env.get(MAX_ROUTE_BYTES, "").strip() or str(DEFAULT_MAX_ROUTE_BYTES)
        try:
            max_bytes = int(raw_max)
        except ValueError:
            max_bytes = 0
        if not 1 <= max_bytes <= DYNAMODB_KEY_LIMIT:
            raise ConfigError(f"{MAX_ROUTE_BYTES} must be an integer from 1 to {DYNAMODB_KEY_LIMIT}, got {raw_max!r}")
        try:
            prefixes = parse_prefixes(env.get(ALLOW_PREFIXES))
        except ValueError as exc:
            raise ConfigError(f"{ALLOW_PREFIXES}: {exc}") from None
        try:
            templates = parse_templates(env.get(ROUTE_TEMPLATES))
        except ValueError as exc:
            raise ConfigError(f"{ROUTE_TEMPLATES}: {exc}") from None
        origins = tuple(split_list(env.get(CORS_ORIGINS))) or (ANY_ORIGIN,)
        return cls(table, origins, RouteRules(max_bytes, prefixes, templates))
