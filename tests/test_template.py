"""`make template` (tools/template.py): the program alone, made again safely, never over someone's files."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.localapi import ROOT

TOOL = ROOT / "tools" / "template.py"


def run(*args: str):
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_template_holds_the_program_its_requirements_and_every_key(tmp_path):
    done = run(str(tmp_path / "t"))
    assert done.returncode == 0 and f"pulumi new {tmp_path / 't'}" in done.stdout
    made = tmp_path / "t"
    assert sorted(p.name for p in made.iterdir()) == [".gitignore", "Pulumi.yaml", "__main__.py", "requirements-lambda.txt",
                                                     "requirements.txt", "route_counter"]
    assert (made / "__main__.py").read_text() == (ROOT / "__main__.py").read_text()
    assert not list(made.rglob("__pycache__"))
    project = yaml.safe_load((made / "Pulumi.yaml").read_text())
    ours = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "${PROJECT}" and project["runtime"]["options"]["virtualenv"] == "venv"
    assert project["config"] == ours["config"] and set(project["template"]["config"]) == {"aws:region", "countsAccess"}
    assert run(str(made)).returncode == 0  # an earlier template is made again


def test_it_never_writes_over_other_files_or_into_the_checkout(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    refused = run(str(tmp_path))
    assert refused.returncode == 2 and "holds other files" in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    inside = run(str(ROOT / "route_counter"))
    assert inside.returncode == 2 and "inside the checkout" in inside.stderr
    assert run().returncode == 2 and run("a", "b").returncode == 2
