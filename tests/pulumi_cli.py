"""The config the Pulumi CLI hands a program, for the mock tests (which run the program without the CLI).

Only the merge is kept here: Pulumi.<stack>.yaml's values, then Pulumi.yaml's defaults for the keys the stack
does not set, every value as text (pulumi/pulumi sdk/go/common/workspace/config.go, mergeConfig). What the CLI
refuses (a default or a stack value of the wrong type, a key without a default, a malformed Pulumi.yaml) is
shown by the real CLI in the engine tests (tests/engine/test_engine.py), not restated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml


def config_text(value: Any) -> str:
    """A primitive as the CLI stores it (Go's ``fmt.Sprintf("%v")``: booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_project(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


def merge_config(project: dict[str, Any], stack_config: Mapping[str, Any]) -> dict[str, str]:
    """The namespaced, text-valued config the program receives: the stack's values over the defaults."""
    merged = {key: config_text(value) for key, value in stack_config.items()}
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{project['name']}:{key}"
        if full not in merged and isinstance(spec, dict) and "default" in spec:
            merged[full] = config_text(spec["default"])
    return merged


def stack_file_config(root: Path, stack_name: str) -> dict[str, Any]:
    """Pulumi.<stack>.yaml's ``config:``; a stack made with `pulumi stack init` alone has no file."""
    path = root / f"Pulumi.{stack_name}.yaml"
    if not path.exists():
        return {}
    return dict((yaml.safe_load(path.read_text()) or {}).get("config") or {})


def committed_stacks(root: Path) -> list[str]:
    """Every stack whose config file is committed next to Pulumi.yaml."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
