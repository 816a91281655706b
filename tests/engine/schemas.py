"""The package schema a stand-in provider answers GetSchema with, for the resources it serves.

A real provider returns its whole schema (pulumi-aws: every resource, with the types of its inputs and
outputs); Pulumi YAML's host resolves every resource type and checks every property through it. The SDK on
PyPI is generated from that schema, so this reads it back from the installed SDK (pulumi_aws, pulumi_random)
for the resources the stand-ins implement: each resource's input properties (its `...Args` class: the wire
name of each getter, its type, required unless Optional), its output properties (the resource class's
getters) and every object type they reach (`...Args` and `outputs.` classes, one token each).
"""

from __future__ import annotations

import collections.abc
import importlib
import typing
from typing import Any

from tests.engine import serving

_SCALARS = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _module(package: str, module: str) -> Any:
    """pulumi_aws.apigateway for `apigateway`, pulumi_aws.lambda_ for `lambda`, the package for `index`."""
    root = f"pulumi_{package}"
    if module == "index":
        return importlib.import_module(root)
    try:
        return importlib.import_module(f"{root}.{module}")
    except ImportError:
        return importlib.import_module(f"{root}.{module}_")


class _Builder:
    def __init__(self, package: str) -> None:
        self.package = package
        self.types: dict[str, dict[str, Any]] = {}

    def _resolve(self, ref: typing.ForwardRef | str, namespace: Any) -> Any:
        name = ref.__forward_arg__ if isinstance(ref, typing.ForwardRef) else ref
        target: Any = namespace
        for part in name.split("."):
            target = getattr(target, part, None)
            if target is None and part == name.split(".")[0]:
                target = getattr(_outputs(namespace), part, None)
            if target is None:
                return None
        return target

    def prop(self, annotation: Any, namespace: Any) -> tuple[dict[str, Any], bool]:
        """(the property's schema, whether it is optional) from an SDK annotation."""
        optional = False
        while True:
            origin = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin is typing.Union:
                kept = [a for a in args if a is not type(None) and typing.get_origin(a) is not collections.abc.Awaitable
                        and not (isinstance(a, typing.ForwardRef) and a.__forward_arg__.startswith("Output"))]
                optional = optional or type(None) in args
                annotation = kept[0] if kept else Any
                continue
            if getattr(origin, "__name__", "") == "Output" or (origin is not None and "Output" in str(origin)):
                annotation = args[0] if args else Any
                continue
            break
        if isinstance(annotation, (typing.ForwardRef, str)):
            resolved = self._resolve(annotation, namespace)
            annotation = resolved if resolved is not None else Any
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if annotation in _SCALARS:
            return {"type": _SCALARS[annotation]}, optional
        if origin in (collections.abc.Mapping, dict, typing.Mapping):
            return {"type": "object", "additionalProperties": self.prop(args[1], namespace)[0]}, optional
        if origin in (collections.abc.Sequence, list, typing.Sequence):
            return {"type": "array", "items": self.prop(args[0], namespace)[0]}, optional
        if isinstance(annotation, type) and _getters(annotation):
            return {"$ref": f"#/types/{self.object_type(annotation)}"}, optional
        return {"$ref": "pulumi.json#/Any"}, optional

    def object_type(self, cls: type) -> str:
        """An object type's token (the same for its Args and its output class), added once."""
        name = cls.__name__.removesuffix("Args")
        module = cls.__module__.split(".")[1].rstrip("_") if cls.__module__.count(".") else "index"
        token = f"{self.package}:{module}/{name}:{name}"
        if token not in self.types:
            self.types[token] = {"type": "object", "properties": {}}
            properties, required = self.properties(cls)
            self.types[token]["properties"].update(properties)
            if required and cls.__name__.endswith("Args"):
                self.types[token]["required"] = sorted(required)
        return token

    def properties(self, cls: type) -> tuple[dict[str, Any], list[str]]:
        namespace = importlib.import_module(cls.__module__.rsplit(".", 1)[0]) if cls.__module__.count(".") \
            else importlib.import_module(cls.__module__)
        found: dict[str, Any] = {}
        required = []
        for wire, annotation in _getters(cls).items():
            found[wire], optional = self.prop(annotation, namespace)
            if not optional:
                required.append(wire)
        return found, required


def _outputs(namespace: Any) -> Any:
    return getattr(namespace, "outputs", None)


def _getters(cls: type) -> dict[str, Any]:
    """Wire name -> annotation of each property getter the SDK declares (its `pulumi.getter` name)."""
    found = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            name = getattr(getattr(value, "fget", None), "_pulumi_name", None)
            if isinstance(value, property) and name:
                found[name] = value.fget.__annotations__.get("return", Any)
    return found


def package_schema(package: str, version: str, tokens: typing.Iterable[str]) -> dict[str, Any]:
    """The schema of `package` at `version` for the resource types `tokens` (`aws:apigateway/stage:Stage`)."""
    serving.real_sdk()  # the SDK read back is the whole SDK, not the stand-in's lean import of its protos
    builder = _Builder(package)
    resources = {}
    for token in sorted(tokens):
        module, name = token.split(":")[1].split("/")[0], token.split(":")[2]
        namespace = _module(package, module)
        resource, args = getattr(namespace, name), getattr(namespace, f"{name}Args")
        inputs, required_inputs = builder.properties(args)
        outputs, required = builder.properties(resource)
        resources[token] = {"inputProperties": inputs, "requiredInputs": sorted(required_inputs),
                            "properties": outputs, "required": sorted(required)}
    return {"name": package, "version": version, "meta": {"moduleFormat": "(.*)(?:/[^/]*)"},
            "resources": resources, "types": builder.types}
