"""Run the real Pulumi program (__main__.py) under Pulumi's mock runtime, with config loaded as the CLI does."""

from __future__ import annotations

import base64
import dataclasses
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from tests import aws_shapes, pulumi_cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "route-counter"


def stack_config(stack_name: str = "dev", **overrides: Any) -> dict[str, str]:
    """The config the program receives, merged as the CLI merges it (tests/pulumi_cli.py): Pulumi.<stack>.yaml
    (none for a new stack) plus ``overrides`` as if set with `pulumi config set`, then Pulumi.yaml's defaults."""
    on_stack = pulumi_cli.stack_file_config(ROOT, stack_name)
    on_stack.update({f"{PROJECT}:{key}": value for key, value in overrides.items()})
    return pulumi_cli.merge_config(pulumi_cli.load_project(ROOT), on_stack)


AUTONAME_SUFFIX = "1a2b3c4"
MOCK_SECRET_B64 = base64.b64encode(b"mock-visitor-secret-32-bytes-abc").decode()


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    options: dict[str, Any]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers, and answers with plausible computed state."""

    resources: dict[str, Registered] = field(default_factory=dict)  # by logical name
    registered: list[Registered] = field(default_factory=list)  # all, even two of one name and other types
    function_generation: int = 1  # bump to simulate replaced functions (new invoke ARNs)
    stacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # other stacks' outputs, for StackReferences

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = self.stacks[args.inputs["name"]]  # a stack the test did not set up is a KeyError
            return [args.inputs["name"], {"name": args.inputs["name"], "outputs": outputs, "secretOutputNames": []}]
        resource_id = args.resource_id or f"{args.name}-id"  # a get() reads the resource of that id
        state = dict(args.inputs)
        # Physical names as Pulumi's auto-naming makes them (logical name, "-", 7 random hex digits); a read
        # resource's is its id.
        name = args.resource_id or args.inputs.get("name") or (args.inputs.get("namePrefix") or f"{args.name}-") + AUTONAME_SUFFIX
        state.setdefault("name", name)
        arn = aws_shapes.arn(args.typ, name, resource_id, args.inputs)
        if arn:
            state.setdefault("arn", arn)
        state.update(aws_shapes.computed(args.typ, name, resource_id, args.inputs))
        if args.typ == "aws:lambda/function:Function" and self.function_generation > 1:
            state["invokeArn"] = state["invokeArn"].replace("/invocations", f"-{self.function_generation}/invocations")
        if args.typ == "random:index/randomBytes:RandomBytes":
            state.update(base64=MOCK_SECRET_B64, hex=base64.b64decode(MOCK_SECRET_B64).hex())
        self.resources[args.name] = Registered(args.typ, args.name, dict(args.inputs), {"provider": args.provider})
        self.registered.append(self.resources[args.name])
        return [resource_id, state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return aws_shapes.invoke(args.token) or {}

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]


def run_program(stack_name: str = "dev", recorder: Recorder | None = None, **overrides: Any) -> tuple[Recorder, dict[str, Any]]:
    """Mocks first, then config, then the program itself. Returns the recorder and the program's globals."""
    recorder = recorder or Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack_name, preview=False)
    pulumi.runtime.set_all_config(stack_config(stack_name, **overrides))
    program = runpy.run_path(str(ROOT / "__main__.py"))
    return recorder, program


def everything(component: Any) -> pulumi.Output[list[Any]]:
    """An Output that resolves once every child the component created has been registered."""
    def resources(value: Any) -> list[pulumi.Resource]:
        if isinstance(value, pulumi.Resource):
            return [value]
        if isinstance(value, list):
            return [v for item in value for v in resources(item)]
        if isinstance(value, dict):  # metering.wire's parts
            return [v for item in value.values() for v in resources(item)]
        if dataclasses.is_dataclass(value):  # FunctionParts, DownloadParts, ApiKeyParts, WafParts
            return [v for f in dataclasses.fields(value) for v in resources(getattr(value, f.name))]
        return []

    children = [r for value in vars(component).values() for r in resources(value)]
    return pulumi.Output.all(*[child.urn for child in children], *component.outputs.values())
