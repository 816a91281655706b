"""The Lambda code asset: the handler package, the pinned packages it imports, and a time zone's data.

Never boto3/botocore (the runtime has them). What ships is copied from the very installed files the tests
import, so a missing or different version stops the program instead of shipping something untested.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from route_counter.handler.rules.buckets import UTC_NAME

PACKAGE_DIR = Path(__file__).resolve().parent.parent
HANDLER_DIR = PACKAGE_DIR / "handler"


def project_file(name: str) -> Path:
    """A file of the project root the package reads (Pulumi.yaml, requirements-lambda.txt): the copy the
    wheel carries inside the package (pyproject.toml's force-include), else the checkout's own."""
    shipped = PACKAGE_DIR / name
    return shipped if shipped.exists() else PACKAGE_DIR.parent / name


LAMBDA_REQUIREMENTS = project_file("requirements-lambda.txt")
# Of each shipped distribution, only what runs: its package's .py and data files, and its license.
_SHIPPED_SUFFIXES = (".py", ".json")
_SKIPPED = ("test", "validate", "package.json", "package-lock.json", "composer.json")
# The IANA database as a package (pinned in requirements.txt). Lambda's Amazon Linux 2023 runtimes have
# run without /usr/share/zoneinfo (aws/aws-lambda-dotnet#1620), so a stack with a timezone ships its one
# zone's file, and zoneinfo falls back to it where the system has none.
ZONE_PACKAGE = "tzdata"


def handler_files(root: Path = HANDLER_DIR) -> dict[str, Path]:
    """The handler package's .py files (no tests, caches or boto3)."""
    return {f"handler/{path.relative_to(root).as_posix()}": path for path in sorted(root.rglob("*.py"))}


def _distribution(name: str, version: str | None = None) -> metadata.Distribution:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"{name} is not installed: run `make venv`") from None
    if version is not None and dist.version != version:
        raise RuntimeError(f"{name} {dist.version} is installed, requirements-lambda.txt pins {version}: run `make venv`")
    return dist


def _license(dist: metadata.Distribution) -> dict[str, Path]:
    return {f"{file.parts[0]}/{file.name}": Path(str(dist.locate_file(file))) for file in dist.files or []
            if ".dist-info" in file.parts[0] and "LICENSE" in file.name.upper()}


def vendored_files(requirements: Path = LAMBDA_REQUIREMENTS) -> dict[str, Path]:
    """The pinned third-party packages the asset ships (requirements-lambda.txt)."""
    files: dict[str, Path] = {}
    for line in requirements.read_text().splitlines():
        spec = line.split("#")[0].strip()
        if not spec:
            continue
        name, _, version = spec.partition("==")
        dist = _distribution(name, version)
        files.update(_license(dist))
        for file in dist.files or []:
            if ".dist-info" in file.parts[0]:
                continue
            if file.suffix in _SHIPPED_SUFFIXES and not any(word in file.name for word in _SKIPPED):
                files[file.as_posix()] = Path(str(dist.locate_file(file)))
    return dict(sorted(files.items()))


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every zone name the shipped database knows (its own list), exact case: the names a stack may use."""
    _distribution(ZONE_PACKAGE)
    return frozenset(resources.files(ZONE_PACKAGE).joinpath("zones").read_text().split())


def zone_files(name: str) -> dict[str, Path]:
    """What zoneinfo needs to load ``name`` from the tzdata package: the zone's file and the package
    __init__ files on its way (zoneinfo opens it as a resource of tzdata.zoneinfo.<Area>)."""
    if name == UTC_NAME:
        return {}
    if name not in zone_names():
        raise ValueError(f"{name!r} is not in the {ZONE_PACKAGE} database")
    dist = _distribution(ZONE_PACKAGE)
    wanted = {f"{ZONE_PACKAGE}/__init__.py", f"{ZONE_PACKAGE}/zoneinfo/{name}"}
    parts = name.split("/")
    wanted |= {"/".join([ZONE_PACKAGE, "zoneinfo", *parts[:i], "__init__.py"]) for i in range(len(parts))}
    files = {file.as_posix(): Path(str(dist.locate_file(file))) for file in dist.files or [] if file.as_posix() in wanted}
    missing = wanted - set(files)
    if missing:
        raise RuntimeError(f"{ZONE_PACKAGE} lacks {', '.join(sorted(missing))}: reinstall it (`make venv`)")
    return {**_license(dist), **files}


def asset_files(timezone: str = UTC_NAME) -> dict[str, Path]:
    """What the code asset ships: handler/, the pinned packages it imports, and the stack's zone."""
    return dict(sorted({**handler_files(), **vendored_files(), **zone_files(timezone)}.items()))
