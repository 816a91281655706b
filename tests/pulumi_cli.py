"""What the Pulumi CLI does with config before the program runs, so the mock tests see what `pulumi up` sees.

Each function follows one function of the CLI (pulumi/pulumi, sdk/go/common/workspace/) and is named after
it; the rules are theirs, re-stated here (reference, not copied):

- ``project.go`` RewriteShorthandConfigValues: a bare value under ``config:`` is a default for a key in the
  project's namespace, and a fixed ``value`` for any other namespace (``aws:region``).
- ``project.go`` Project.Validate: no key has both ``default`` and ``value``; a typed key's default must
  have its declared type; a key of another namespace has a ``value`` and neither a type nor a default.
- ``project.go`` ValidateConfigValue: "integer" takes an int, a whole float or a string ``strconv.Atoi``
  parses (so ``""`` is not an integer); "boolean" takes a bool or the strings ``true``/``false``.
- ``config.go`` mergeConfig: a project-namespace key that is not on the stack and has neither ``default``
  nor ``value`` is missing, and a run with missing keys stops with
  ``Stack '<name>' is missing configuration value(s) ...`` (even if the program would only ``config.get`` it;
  pulumi/pulumi#21797); otherwise the default or value is set on the stack, as text for primitives.
- ``config.go`` validateStackConfigValues: every typed key's stack value must then have its type.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml


class CliConfigError(Exception):
    """What the CLI would print before running the program."""


_INT = re.compile(r"^[+-]?[0-9]+$")  # strconv.Atoi


def config_text(value: Any) -> str:
    """A primitive as the CLI stores it (Go's ``fmt.Sprintf("%v")``: booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise CliConfigError(f"only primitive config values are modelled here, got {value!r}")


def namespaced(project_name: str, key: str) -> bool:
    """configKeyIsNamespacedByProject."""
    return ":" not in key or key.startswith(project_name + ":")


def parse_config_key(project_name: str, key: str) -> str:
    """parseConfigKey: a bare key takes the project's namespace."""
    return key if ":" in key else f"{project_name}:{key}"


def rewrite_shorthand_config_values(project: dict[str, Any]) -> dict[str, Any]:
    """RewriteShorthandConfigValues."""
    config = {}
    for key, spec in (project.get("config") or {}).items():
        if not isinstance(spec, dict):
            spec = {"default": spec} if namespaced(project["name"], key) else {"value": spec}
        config[key] = spec
    return {**project, "config": config}


def validate_config_value(type_name: str, value: Any) -> bool:
    """ValidateConfigValue, for the scalar types this project declares."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):  # YAML booleans are not Go ints
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value == int(value)
        return isinstance(value, str) and bool(_INT.match(value))
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    raise CliConfigError(f"type {type_name!r} is not modelled here")


def project_validate(project: dict[str, Any]) -> None:
    """Project.Validate: what `pulumi` refuses in Pulumi.yaml before doing anything."""
    name = project.get("name")
    if not name:
        raise CliConfigError("project is missing a 'name' attribute")
    for key, spec in project["config"].items():
        if "default" in spec and "value" in spec:
            raise CliConfigError(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        if namespaced(name, key):
            if "type" in spec and "default" in spec and not validate_config_value(spec["type"], spec["default"]):
                raise CliConfigError(
                    f"The default value specified for configuration key '{key}' is not of the expected type '{spec['type']}'"
                )
        else:
            if "type" in spec:
                raise CliConfigError(f"Configuration key '{key}' is not namespaced by the project and should not define a type")
            if "default" in spec:
                raise CliConfigError(f"Configuration key '{key}' is not namespaced by the project and should not define a default value")
            if "value" not in spec:
                raise CliConfigError(f"Configuration key '{key}' is namespaced and must provide an attribute 'value'")


def _missing_keys_error(missing: list[str], stack_name: str) -> CliConfigError:
    """missingStackConfigurationKeysError + formatMissingKeys."""
    missing = sorted(missing)
    if len(missing) == 1:
        keys = f"'{missing[0]}'"
    else:
        keys = ", ".join(f"'{k}'" for k in missing[:-2]) + (", " if len(missing) > 2 else "")
        keys += f"'{missing[-2]}' and '{missing[-1]}'"
    plural = "values" if len(missing) > 1 else "value"
    return CliConfigError(f"Stack '{stack_name}' is missing configuration {plural} {keys}")


def merge_config(project: dict[str, Any], stack_name: str, stack_config: Mapping[str, Any]) -> dict[str, str]:
    """mergeConfig + validateStackConfigValues: the namespaced, text-valued config the program receives."""
    name = project["name"]
    merged = {key: config_text(value) for key, value in stack_config.items()}
    missing = []
    for project_key in sorted(project["config"]):
        spec = project["config"][project_key]
        key = parse_config_key(name, project_key)
        if key in merged:
            continue
        if "value" not in spec and "default" not in spec:
            if key.split(":", 1)[0] == name:
                missing.append(project_key)
            continue
        merged[key] = config_text(spec["default"] if "default" in spec else spec["value"])
    if missing:
        raise _missing_keys_error(missing, stack_name)
    for project_key, spec in sorted(project["config"].items()):
        key = parse_config_key(name, project_key)
        if "type" in spec and key in merged and not validate_config_value(spec["type"], merged[key]):
            raise CliConfigError(f"Stack '{stack_name}' with configuration key '{project_key}' must be of type '{spec['type']}'")
    return merged


def load_project(root: Path) -> dict[str, Any]:
    """Pulumi.yaml as the CLI reads it: shorthand rewritten, then validated."""
    project = rewrite_shorthand_config_values(yaml.safe_load((root / "Pulumi.yaml").read_text()))
    project_validate(project)
    return project


def stack_file_config(root: Path, stack_name: str) -> dict[str, Any]:
    """Pulumi.<stack>.yaml's ``config:``; a stack made with `pulumi stack init` alone has no file."""
    path = root / f"Pulumi.{stack_name}.yaml"
    if not path.exists():
        return {}
    return dict((yaml.safe_load(path.read_text()) or {}).get("config") or {})


def committed_stacks(root: Path) -> list[str]:
    """Every stack whose config file is committed next to Pulumi.yaml."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
