"""The GitHub Actions workflows: valid against the published workflow schema, and doing what README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parent.parent / ".github" / "workflows").glob("*.yml"))


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS[0].parent / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_test_command_on_push_and_pr():
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    steps = ci["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    assert (Path(WORKFLOWS[0]).parent.parent.parent / ".ci" / "run").read_text().count("make test") == 1


def test_preview_uses_oidc_and_comments_on_the_pr():
    preview = load("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    assert preview["permissions"]["id-token"] == "write"
    assert preview["permissions"]["pull-requests"] == "write"
    steps = preview["jobs"]["preview"]["steps"]
    aws = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert "role-to-assume" in aws["with"] and "aws-access-key-id" not in aws["with"]
    pulumi = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert "PULUMI_ACCESS_TOKEN" in pulumi["env"]
    # The program needs its dependencies in .venv before Pulumi runs it.
    assert steps.index(pulumi) > next(i for i, s in enumerate(steps) if "requirements.txt" in s.get("run", ""))
