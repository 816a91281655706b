"""Every committed stack and a brand-new one (no config of its own) run the program under the mocks with
the config the CLI would hand it. What the CLI itself refuses, and the README's table of what a new stack
creates, are shown by the real CLI and engine (tests/engine/test_engine.py)."""

from __future__ import annotations

import pulumi
import pytest

from route_counter.infra import settings as stack
from tests import pulumi_cli
from tests.stack import PROJECT, ROOT, everything, run_program

NEW_STACK = "brand-new"  # `pulumi stack init brand-new && pulumi up`: no Pulumi.brand-new.yaml
STACKS = [*pulumi_cli.committed_stacks(ROOT), NEW_STACK]


def test_every_declared_key_has_a_default():
    """A key without one is required on every stack: `pulumi stack init` alone would not run."""
    for key, spec in pulumi_cli.load_project(ROOT)["config"].items():
        assert "default" in spec, f"{key}: a key without a default is required on every stack"


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_stack_s_values_parse(stack_name):
    merged = pulumi_cli.merge_config(pulumi_cli.load_project(ROOT), pulumi_cli.stack_file_config(ROOT, stack_name))
    ours = {key.split(":", 1)[1]: value for key, value in merged.items() if key.startswith(PROJECT + ":")}
    assert set(ours) == set(stack.schema())
    stack.parse(ours)  # the program's own validation accepts what the CLI hands it


@pytest.mark.parametrize("stack_name", STACKS)
@pulumi.runtime.test
def test_the_program_runs_for_each_stack(stack_name):
    _, program = run_program(stack_name)
    return everything(program["route_counter"])
