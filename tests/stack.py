"""Run the real Pulumi program (__main__.py) under Pulumi's mock runtime, with config loaded as the CLI does."""

from __future__ import annotations

import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra import settings as stack
from infra.component import FunctionParts

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "route-counter"
ACCOUNT, REGION = "123456789012", "us-east-1"


def stack_config(stack_name: str = "dev", **overrides: Any) -> dict[str, str]:
    """Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then overrides: namespaced keys, string values."""
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    config = {f"{PROJECT}:{key}": text(value) for key, value in stack.defaults().items()}
    stack_file = ROOT / f"Pulumi.{stack_name}.yaml"
    if stack_file.exists():  # a new stack has no file yet: Pulumi.yaml's defaults alone
        config.update({key: text(value) for key, value in yaml.safe_load(stack_file.read_text())["config"].items()})
    config.update({f"{PROJECT}:{key}": text(value) for key, value in overrides.items()})
    return config


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    options: dict[str, Any]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers, and answers with plausible computed state."""

    resources: dict[str, Registered] = field(default_factory=dict)
    function_generation: int = 1  # bump to simulate replaced functions (new invoke ARNs)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        resource_id = f"{args.name}-id"
        state = dict(args.inputs)
        arn = f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{REGION}:{ACCOUNT}:{args.name}"
        state.setdefault("arn", arn)
        state.setdefault("name", args.inputs.get("name") or f"{args.inputs.get('namePrefix', args.name)}1a2b3c")
        if args.typ == "aws:apigateway/restApi:RestApi":
            state.update(rootResourceId=f"{args.name}-root", executionArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{resource_id}")
        if args.typ == "aws:lambda/function:Function":
            generation = "" if self.function_generation == 1 else f"-{self.function_generation}"
            state["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}{generation}/invocations"
        if args.typ == "aws:apigateway/stage:Stage":
            state["invokeUrl"] = f"https://{args.inputs['restApi']}.execute-api.{REGION}.amazonaws.com/{args.inputs['stageName']}"
        self.resources[args.name] = Registered(args.typ, args.name, dict(args.inputs), {"provider": args.provider})
        return [resource_id, state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type == typ]


def run_program(stack_name: str = "dev", recorder: Recorder | None = None, **overrides: Any) -> tuple[Recorder, dict[str, Any]]:
    """Mocks first, then config, then the program itself. Returns the recorder and the program's globals."""
    recorder = recorder or Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack_name, preview=False)
    pulumi.runtime.set_all_config(stack_config(stack_name, **overrides))
    program = runpy.run_path(str(ROOT / "__main__.py"))
    return recorder, program


def everything(component: Any) -> pulumi.Output[list[Any]]:
    """An Output that resolves once every child the component created has been registered."""
    children = [value for value in vars(component).values() if isinstance(value, pulumi.Resource)]
    for value in vars(component).values():
        if isinstance(value, list):
            children += [v for v in value if isinstance(v, pulumi.Resource)]
        if isinstance(value, FunctionParts):
            children += [value.function, value.role, value.policy, value.log_group]
    return pulumi.Output.all(*[child.urn for child in children], *component.outputs.values())
