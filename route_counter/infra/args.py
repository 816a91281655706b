"""The components' typed arguments, made from Pulumi.yaml's config schema: one field per config key (its
name in snake_case, its declared type, its default, its description), so a stack's config and a program's
arguments are declared once and validated by the same parse (route_counter.infra.settings)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from route_counter.infra import settings as stack

CONFIG_TYPES = {"string": str, "integer": int, "boolean": bool}  # a config key's declared type


def snake(key: str) -> str:
    """A config key's argument name: ``countsPath`` -> ``counts_path``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def _make() -> type:
    fields = []
    lines = []
    for key, spec in stack.schema().items():
        description = spec.get("description", "")
        fields.append((snake(key), CONFIG_TYPES[spec["type"]], dataclasses.field(
            default=spec["default"], metadata={"config_key": key, "description": description})))
        lines.append(f"    {snake(key)} ({spec['type']}, default {spec['default']!r}): {description}")
    made = dataclasses.make_dataclass("RouteCounterArgs", fields, frozen=True, kw_only=True,
                                      namespace={"__module__": __name__})
    made.__doc__ = ("RouteCounter's arguments: each a config key of the ready-made program (Pulumi.yaml), "
                    "validated the same way.\n\n" + "\n".join(lines))
    return made


RouteCounterArgs: Any = _make()


def config_of(args: Any) -> dict[str, Any]:
    """The arguments as the config keys they stand for (what ``settings.parse`` reads)."""
    return {field.metadata["config_key"]: getattr(args, field.name) for field in dataclasses.fields(args)}


def settings_of(args: Any, project_stack: tuple[str, str] | None = None) -> stack.StackSettings:
    """Validated settings; SettingsError names the argument, as the config key's message names the key."""
    try:
        return stack.parse(config_of(args), project_stack=project_stack)
    except stack.SettingsError as exc:
        message = str(exc)
        for field in dataclasses.fields(args):
            message = re.sub(rf"\b{field.metadata['config_key']}\b", field.name, message)
        raise stack.SettingsError(message) from None
