"""The GitHub Actions workflows: valid against the published workflow schema, clean under zizmor (offline),
pinned and least-privileged, and doing what README says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

GITHUB = Path(__file__).resolve().parent.parent / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))


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


def test_zizmor_finds_nothing_offline():
    """zizmor's audits at their default severity (unpinned actions, persisted credentials, excessive
    permissions, template injection, ...); its exit status is non-zero on any finding."""
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert zizmor, "zizmor is installed with requirements-dev.txt"
    result = subprocess.run([zizmor, "--offline", "--no-progress", str(GITHUB)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_and_runs_on_node_24(workflow):
    for line in workflow.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line
    data = load(workflow.name)
    assert data["permissions"] == {}  # nothing by default; each job asks for what it needs
    for job in data["jobs"].values():
        assert "permissions" in job and job["permissions"].get("contents") == "read"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert data["concurrency"]["cancel-in-progress"] is True


def test_dependabot_keeps_actions_and_pip_pins_fresh():
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions", "pip"}


def test_ci_runs_the_test_command_on_push_and_pr():
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    steps = ci["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    assert (Path(WORKFLOWS[0]).parent.parent.parent / ".ci" / "run").read_text().count("make test") == 1


def test_preview_uses_oidc_and_comments_on_the_pr():
    preview = load("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    job = preview["jobs"]["preview"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    # Fork PRs have no OIDC token and no secrets: the job is skipped for them, not failed.
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    steps = job["steps"]
    aws = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert "role-to-assume" in aws["with"] and "aws-access-key-id" not in aws["with"]
    pulumi = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert "PULUMI_ACCESS_TOKEN" in pulumi["env"]
    # The program needs its dependencies in .venv before Pulumi runs it.
    assert steps.index(pulumi) > next(i for i, s in enumerate(steps) if "requirements.txt" in s.get("run", ""))
