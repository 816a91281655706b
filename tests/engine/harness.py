"""Running the real Pulumi CLI (tests/engine/pulumi) on a copy of the project, for the engine tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WRAPPER = HERE / "pulumi"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# What a copy of the project needs to run: the program, its settings and the code asset's sources.
PROJECT_FILES = ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml", "requirements.txt", "requirements-lambda.txt",
                 "route_counter")


def find_cli() -> str:
    """The real CLI: `pulumi` v3 on PATH, else the one `make pulumi-cli` built. Skips (fails in CI) without."""
    try:
        done = subprocess.run([str(HERE / "build-cli"), "--find-only"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    else:
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[-1]
        reason = (done.stderr.strip().splitlines() or ["no CLI"])[-1]
    if CI:
        pytest.fail(f"the engine tests must run in CI: {reason}")
    pytest.skip(f"no Pulumi CLI, and it cannot be built here ({reason}): `make pulumi-cli`")


def find_yaml_host() -> str:
    """Pulumi YAML's language host beside the CLI (a release carries it; `make pulumi-cli` builds it)."""
    host = Path(find_cli()).parent / "pulumi-language-yaml"
    if host.is_file():
        return str(host)
    if CI:
        pytest.fail(f"the YAML engine tests must run in CI: no {host}")
    pytest.skip(f"no Pulumi YAML host beside the CLI ({host}): `make pulumi-cli`")


def tracked_files() -> list[str]:
    """The repository's files as a clone has them (git's list), less the tests."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in listed.splitlines() if not name.startswith("tests/")]


def copy_files(names: list[str], dest: Path) -> None:
    for name in names:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def copy_project(dest: Path) -> Path:
    """A copy of the project as a user has it after `git clone` and `make venv` (the venv is shared)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


class Engine:
    """One backend, one PULUMI_HOME with the stand-ins and one fake AWS account, in a temporary folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        (home / "state").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PULUMI_HOME": str(home / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "engine-tests",
            "STANDIN_CLOUD": str(home / "cloud"),
            "AWS_REGION": "us-east-1",
            # The installs the stand-in host runs (pulumi new, a missing venv) skip compiling bytecode, two
            # thirds of their time (pulumi_aws alone is thousands of modules): Python compiles what it runs.
            "PIP_COMPILE": "no",
        }
        for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "PULUMI_ACCESS_TOKEN", "PULUMI_STACK"):
            self.env.pop(name, None)

    def run(self, cwd: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run([str(WRAPPER), *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                              env={**self.env, **(env or {})})
        result = Result(done.returncode, done.stdout, done.stderr)
        if ok and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({done.returncode}):\n{result.text[-4000:]}")
        return result

    def new_stack(self, cwd: Path, name: str, **config: str) -> None:
        self.run(cwd, "stack", "init", name, "--non-interactive")
        if config:
            pairs = [arg for key, value in config.items() for arg in ("--plaintext", f"{key}={value}")]
            self.run(cwd, "config", "set-all", *pairs, "--stack", name)

    def preview(self, cwd: Path, stack: str, *args: str, ok: bool = True) -> Result:
        return self.run(cwd, "preview", "--stack", stack, "--non-interactive", *args, ok=ok)

    def preview_json(self, cwd: Path, stack: str, *args: str) -> dict[str, Any]:
        return self.preview(cwd, stack, "--json", *args).json()

    def up(self, cwd: Path, stack: str, *args: str, ok: bool = True) -> Result:
        return self.run(cwd, "up", "--stack", stack, "--yes", "--non-interactive", "--skip-preview", *args, ok=ok)

    def destroy(self, cwd: Path, stack: str, ok: bool = True) -> Result:
        return self.run(cwd, "destroy", "--stack", stack, "--yes", "--non-interactive", "--skip-preview", ok=ok)

    def outputs(self, cwd: Path, stack: str, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--stack", stack, "--json"] + (["--show-secrets"] if show_secrets else [])
        return self.run(cwd, *args).json()

    def resources(self, cwd: Path, stack: str) -> list[dict[str, Any]]:
        return self.run(cwd, "stack", "export", "--stack", stack).json()["deployment"].get("resources") or []


def changes(preview: dict[str, Any]) -> dict[str, str]:
    """Logical name -> operation, for every step of a `preview --json` that is not `same`."""
    return {step["urn"].split("::")[-1]: step["op"] for step in preview["steps"] if step["op"] != "same"}


def created_types(preview: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in preview["steps"]:
        if step["op"] == "create":
            typ = step["urn"].split("::")[-2].split("$")[-1]
            counts[typ] = counts.get(typ, 0) + 1
    return counts

