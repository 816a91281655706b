"""Config as the Pulumi CLI sees it before the program runs (tests/pulumi_cli.py follows the CLI's source).

`pulumi up` must get past the CLI's merge for every committed stack file and for a brand-new stack with no
config of its own; a key that would be reported missing, or a default of the wrong type, fails here.
"""

from __future__ import annotations

import copy
from collections import Counter

import pulumi
import pytest

from infra import settings as stack
from tests import pulumi_cli
from tests.stack import PROJECT, ROOT, everything, run_program

NEW_STACK = "brand-new"  # `pulumi stack init brand-new && pulumi up`: no Pulumi.brand-new.yaml
STACKS = [*pulumi_cli.committed_stacks(ROOT), NEW_STACK]


def test_the_project_file_is_one_the_cli_accepts():
    project = pulumi_cli.load_project(ROOT)  # raises what the CLI would print
    assert project["name"] == PROJECT
    assert not (ROOT / f"Pulumi.{NEW_STACK}.yaml").exists()
    assert "dev" in pulumi_cli.committed_stacks(ROOT)


def test_every_declared_key_has_a_default_of_its_declared_type():
    for key, spec in pulumi_cli.load_project(ROOT)["config"].items():
        assert "default" in spec, f"{key}: a key without a default is required on every stack"
        assert pulumi_cli.validate_config_value(spec["type"], spec["default"]), key


@pytest.mark.parametrize("stack_name", STACKS)
def test_no_key_is_missing_and_every_value_parses(stack_name):
    merged = pulumi_cli.merge_config(
        pulumi_cli.load_project(ROOT), stack_name, pulumi_cli.stack_file_config(ROOT, stack_name)
    )
    ours = {key.split(":", 1)[1]: value for key, value in merged.items() if key.startswith(PROJECT + ":")}
    assert set(ours) == set(stack.schema())
    stack.parse(ours)  # the program's own validation accepts what the CLI hands it


@pytest.mark.parametrize("stack_name", STACKS)
@pulumi.runtime.test
def test_the_program_runs_for_each_stack(stack_name):
    _, program = run_program(stack_name)
    return everything(program["route_counter"])


def test_the_merge_reports_missing_keys_as_the_cli_does():
    """The wave-1 Pulumi.yaml (alarmEmail and reservedConcurrency without defaults) fails as the issue reports."""
    project = copy.deepcopy(pulumi_cli.load_project(ROOT))
    for key in ("alarmEmail", "reservedConcurrency"):
        del project["config"][key]["default"]
    with pytest.raises(pulumi_cli.CliConfigError) as err:
        pulumi_cli.merge_config(project, "dev", pulumi_cli.stack_file_config(ROOT, "dev"))
    assert str(err.value) == "Stack 'dev' is missing configuration values 'alarmEmail' and 'reservedConcurrency'"
    # Set on the stack, it is not missing; another namespace's key is never required.
    pulumi_cli.merge_config(project, "dev", {f"{PROJECT}:alarmEmail": "", f"{PROJECT}:reservedConcurrency": 3})
    project["config"]["aws:region"] = {}
    pulumi_cli.merge_config(project, "dev", {f"{PROJECT}:alarmEmail": "", f"{PROJECT}:reservedConcurrency": 3})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "integer", "default": ""}, "is not of the expected type 'integer'"),
        ({"type": "boolean", "default": "yes"}, "is not of the expected type 'boolean'"),
        ({"type": "string", "default": 5}, "is not of the expected type 'string'"),
        ({"type": "string", "default": "", "value": ""}, "cannot have both"),
    ],
)
def test_the_cli_refuses_a_default_of_another_type(spec, message):
    project = {"name": PROJECT, "config": {"key": spec}}
    with pytest.raises(pulumi_cli.CliConfigError, match=message):
        pulumi_cli.project_validate(project)


def test_a_stack_value_of_the_wrong_type_is_refused():
    project = pulumi_cli.load_project(ROOT)
    with pytest.raises(pulumi_cli.CliConfigError, match="'memorySize' must be of type 'integer'"):
        pulumi_cli.merge_config(project, "dev", {f"{PROJECT}:memorySize": "lots"})


# The README's deploy checklist shows what `pulumi preview` creates for a new stack; this keeps it true.
README_START, README_END = "<!-- preview-resources:start -->", "<!-- preview-resources:end -->"


def preview_table(recorder) -> str:
    counts = Counter(r.type for r in recorder.resources.values())
    rows = [f"| `{typ}` | {n} |" for typ, n in sorted(counts.items())]
    total = sum(counts.values()) + 1  # + the stack itself (`pulumi:pulumi:Stack`)
    return "\n".join(["| resource type | count |", "|---|---|", *rows,
                      f"| **total, with the stack itself** | **{total}** |"])


@pulumi.runtime.test
def test_readme_lists_what_a_new_stack_creates():
    recorder, program = run_program(NEW_STACK)

    def compare(_):
        readme = (ROOT / "README.md").read_text()
        shown = readme.split(README_START, 1)[1].split(README_END, 1)[0].strip()
        expected = preview_table(recorder)
        assert shown == expected, f"update the README's deploy checklist with:\n{expected}"

    return everything(program["route_counter"]).apply(compare)
