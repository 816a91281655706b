"""route-counter as a library (docs/component.md): the built wheel in a fresh venv outside the repository,
and examples/meter-my-api run by the real CLI and engine on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench import library
from tests.engine import harness
from tests.engine.harness import Engine, changes

pytestmark = pytest.mark.engine

EXAMPLE = harness.ROOT / "examples" / "meter-my-api"

@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a fresh venv (outside the repository) with the built wheel installed."""
    harness.find_cli()
    folder = tmp_path_factory.mktemp("library")
    wheel = library.build_wheel(folder / "dist")
    return library.venv_with_wheel(folder / "venv", wheel)


def test_the_wheel_installs_route_counter_alone_and_ships_the_same_code_asset(installed, tmp_path):
    found = library.asset_digest(installed, tmp_path)
    assert "site-packages/route_counter" in found["where"]
    assert not [p for p in found["path"] if p.rstrip("/") == str(harness.ROOT)]  # no checkout on sys.path
    checkout = library.asset_digest(library.VENV_PYTHON, harness.ROOT)
    assert (found["digest"], found["files"]) == (checkout["digest"], checkout["files"])  # the same bytes
    site = Path(found["where"]).parent
    ours = [p.name for p in site.iterdir() if p.name.startswith("route_counter")]
    assert sorted(ours) == ["route_counter", f"route_counter-{_version()}.dist-info"]
    top = {p.name for p in site.iterdir()} - {"dependencies.pth", "__pycache__"}
    assert top == set(ours)  # nothing else at the top of site-packages


def test_the_install_brings_the_admin_cli_as_a_command(installed, tmp_path):
    command = installed.parent / "route-counter"  # [project.scripts], beside the venv's python
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: route-counter ") and " ingest " in result.stdout


def _version() -> str:
    text = (harness.ROOT / "pyproject.toml").read_text()
    return text.split('\nversion = "', 1)[1].split('"', 1)[0]


PROGRAM = '''"""A program of your own: two RouteCounters and an ApiMeter, imported from the installed package."""
import pulumi
from route_counter import ApiMeter, ApiMeterArgs, RouteCounter, RouteCounterArgs

site = RouteCounter("site", RouteCounterArgs(protect_data=False, meter_log_group=True, waf_rate_limit=1000),
                    api_meter_sources=["shop"])
docs = RouteCounter("docs", RouteCounterArgs(protect_data=False, meter_log_group=True, counts_path="stats"))
meter = ApiMeter("shop-meter", ApiMeterArgs(sources=["shop"], counts_table=site.table, protect_data=False))
pulumi.export("site_url", site.url)
pulumi.export("docs_counts_url", docs.counts_url)
pulumi.export("meter_table", meter.meter_table_name)
'''


def test_a_program_with_two_counters_and_a_meter_from_the_installed_package_ups_and_destroys(installed, tmp_path):
    """The stand-in account refuses a physical name a second resource claims: an `up` shows none collide."""
    engine = Engine(tmp_path / "backend")
    program = tmp_path / "my-program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(f"name: my-program\nruntime:\n  name: python\n  options:\n"
                                         f"    virtualenv: {installed.parent.parent}\n")
    (program / "__main__.py").write_text(PROGRAM)
    engine.new_stack(program, "dev")
    preview = engine.preview_json(program, "dev")
    created = {step["urn"].split("::")[-1] for step in preview["steps"] if step["op"] == "create"}
    assert {"site", "site-table", "docs", "docs-table", "shop-meter", "shop-meter-shop-access-logs"} <= created
    engine.up(program, "dev")
    assert engine.preview(program, "dev", "--expect-no-changes").code == 0
    outputs = engine.outputs(program, "dev")
    assert outputs["docs_counts_url"].endswith("/stats") and outputs["meter_table"]
    engine.destroy(program, "dev")
    assert engine.resources(program, "dev") == []


def test_the_example_previews_ups_has_no_diff_and_destroys(installed, tmp_path):
    engine = Engine(tmp_path / "backend")
    example = tmp_path / "meter-my-api"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (example / "venv").symlink_to(installed.parent.parent, target_is_directory=True)
    engine.new_stack(example, "dev")
    engine.run(example, "up", "--stack", "dev", "--yes", "--non-interactive")  # a preview, then the update
    assert changes(engine.preview_json(example, "dev", "--expect-no-changes")) == {}  # exits 0, or fails
    outputs = engine.outputs(example, "dev")
    assert outputs["url"].endswith("/prod") and outputs["meter_table"] and outputs["counts_table"]
    assert "protected" in engine.destroy(example, "dev", ok=False).text  # usage is billing data
    engine.run(example, "config", "set", "protectData", "false", "--stack", "dev")
    engine.up(example, "dev")
    engine.destroy(example, "dev")
    assert engine.resources(example, "dev") == []
