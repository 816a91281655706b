"""`pulumi new` as a user runs it (docs/deploy.md): `make template` in a clone that has its `.venv`, then
`pulumi new` on the template. The stand-in language host installs the new project's dependencies as the
real one does (a fresh venv, `pip install -r requirements.txt`), so this also proves the template's
requirements are complete. Its own file: the install takes half a minute, on the other test worker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.engine import harness
from tests.engine.harness import Engine, created_types

pytestmark = pytest.mark.engine

PROJECT = {".gitignore", "Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "requirements.txt",
           "requirements-lambda.txt", "route_counter", "venv"}


def test_pulumi_new_on_the_template_makes_a_lean_protected_project_that_installs_and_previews(tmp_path):
    harness.find_cli()
    clone = tmp_path / "clone"
    harness.copy_files(harness.tracked_files(), clone)
    (clone / ".venv" / "lib").mkdir(parents=True)  # what `make dev` leaves: a venv whose lib64 is a link,
    (clone / ".venv" / "lib64").symlink_to("lib")  # which `pulumi new <the clone>` cannot copy
    made = subprocess.run(["make", "-s", "template"], cwd=clone, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    template = clone / "dist" / "template"
    assert f"pulumi new {template.relative_to(clone)}" in made.stdout

    engine = Engine(tmp_path / "backend")
    target = tmp_path / "my-counter"
    engine.run(tmp_path, "new", str(template), "--yes", "--stack", "dev", "--non-interactive", "--dir", str(target))
    assert {path.name for path in target.iterdir()} == PROJECT  # no tests, bench, docs, .ci or committed stack
    venv = target / "venv"
    assert not venv.is_symlink() and list(venv.glob("lib/python3*/site-packages/pulumi_aws/__init__.py"))
    assert not list(venv.glob("lib/python3*/site-packages/route_counter"))  # the program is the project's own
    project = harness.yaml_file(target / "Pulumi.yaml")
    assert project["name"] == "my-counter" and "template" not in project
    own = {key: spec for key, spec in project["config"].items() if ":" not in key}  # less `pulumi:tags`
    assert own == harness.yaml_file(harness.ROOT / "Pulumi.yaml")["config"]  # every key, typed, with its default
    stack = harness.yaml_file(target / "Pulumi.dev.yaml")["config"]
    assert stack == {"aws:region": "us-east-1", "my-counter:countsAccess": "public"}  # protectData: its default

    preview = engine.preview_json(target, "dev")
    assert created_types(preview)["aws:lambda/function:Function"] == 2
    assert not [d for d in preview.get("diagnostics", []) if d.get("severity") == "error"]
    table = next(step["newState"] for step in preview["steps"]
                 if step["urn"].endswith("::route-counter-table"))
    assert table["protect"] is True and table["inputs"]["deletionProtectionEnabled"] is True


def test_the_wrapper_gives_each_clone_its_own_stacks_a_dev_stack_and_no_host_warning(tmp_path):
    """README's `tests/engine/pulumi preview` in two fresh clones: no stack to make first, no warning about
    the language host, and neither clone sees the other's stacks."""
    cli = Path(harness.find_cli())
    (tmp_path / "cache").mkdir()
    if cli.parent.parent.name.startswith("pulumi-v"):  # the CLI make pulumi-cli built, in this cache too
        (tmp_path / "cache" / cli.parent.parent.name).symlink_to(cli.parent.parent)
    env = {key: value for key, value in harness.Engine(tmp_path / "unused").env.items()
           if key not in ("PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "STANDIN_CLOUD",
                          "AWS_REGION")}
    env["ROUTE_COUNTER_CACHE"] = str(tmp_path / "cache")
    clones = [tmp_path / name for name in ("one", "two")]
    for clone in clones:
        harness.copy_files(harness.tracked_files() + ["tests/engine/pulumi", "tests/engine/build-cli",
                                                     "tests/engine/langhost.py", "tests/engine/provider.py",
                                                     "tests/engine/serving.py", "tests/engine/schemas.py", "tests/engine/__init__.py",
                                                     "tests/__init__.py", "tests/aws_shapes.py"], clone)
        (clone / ".venv").symlink_to(harness.ROOT / ".venv")
        done = subprocess.run([str(clone / "tests/engine/pulumi"), "preview", "--non-interactive"], cwd=clone,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
        assert "using 'dev'" in done.stderr and "+ 25 to create" in done.stdout
    homes = sorted(path.name for path in (tmp_path / "cache" / "engine").iterdir())
    assert len(homes) == 2  # one home, backend and fake account per clone
    listed = subprocess.run([str(clones[0] / "tests/engine/pulumi"), "stack", "ls", "--json"], cwd=clones[0],
                            env=env, capture_output=True, text=True, timeout=120)
    assert [stack["name"] for stack in json.loads(listed.stdout)] == ["dev"]


def test_preview_makes_a_missing_venv_first_as_the_real_host_does(tmp_path):
    """docs/development.md's one command for the example (`../../tests/engine/pulumi preview`): a program
    whose venv is missing gets it made and filled from its requirements.txt before it runs."""
    harness.find_cli()
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: tiny\nruntime:\n  name: python\n  options:\n"
                                         "    toolchain: pip\n    virtualenv: venv\n")
    pin = next(line for line in (harness.ROOT / "requirements.txt").read_text().splitlines()
               if line.startswith("pulumi=="))
    (project / "requirements.txt").write_text(pin + "\n")
    (project / "__main__.py").write_text("import pulumi\n\npulumi.export('answer', 42)\n")
    engine = Engine(tmp_path / "backend")
    engine.new_stack(project, "dev")
    preview = engine.preview_json(project, "dev")
    assert not [d for d in preview.get("diagnostics", []) if d.get("severity") == "error"]
    assert list((project / "venv").glob("lib/python3*/site-packages/pulumi/__init__.py"))
