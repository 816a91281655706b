"""The README is the front door (what it is, the two commands, deploying, endpoints, configuration, costs);
each deeper topic is one page under docs/. These keep that shape and its tables true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from route_counter.infra.settings import schema
from tests.localapi import ROOT

README = (ROOT / "README.md").read_text()
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_the_readme_is_short_and_links_every_docs_page():
    assert len(README.splitlines()) <= 250
    for heading in ("## Quick start", "### Deploy checklist", "## Endpoints", "## Configuration", "## Cost per million"):
        assert heading in README
    assert "make dev" in README and "make test" in README
    linked = {Path(m[1]).name for m in LINK.finditer(README) if m[1].startswith("docs/")}
    assert linked == {page.name for page in PAGES}


@pytest.mark.parametrize("path", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(path):
    text = path.read_text()
    for target, anchor in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        linked = (path.parent / target).resolve()
        assert linked.exists(), f"{path.name}: {target}"
        if anchor:
            assert anchor[1:] in anchors(linked.read_text()), f"{path.name}: {target}{anchor}"


def test_the_configuration_table_is_pulumi_yaml():
    """Every key, once, with the default Pulumi.yaml declares (one source of truth; the table only shows it)."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)}
    shown = {key for row in re.findall(r"^\| (`\w+`(?: / `\w+`)*) \|", section, re.M) for key in re.findall(r"`(\w+)`", row)}
    assert shown == set(schema()), sorted(shown ^ set(schema()))
    for key, cell in rows.items():
        default = schema()[key]["default"]
        text = str(default).lower() if isinstance(default, bool) else str(default)
        assert f"`{text}`" in cell or (text == "" and "empty" in cell), (key, cell, default)


def test_the_code_asset_figures_in_the_docs_are_make_bench_s():
    """docs/performance.md states the asset as `make bench` measures it (a changed handler/ changes both)."""
    from bench.asset import code_asset

    asset = code_asset()
    text = (ROOT / "docs" / "performance.md").read_text()
    assert f"| {asset['bytes'] / 1024:.1f} KB, {asset['files']} files |" in text
    assert f"The code asset is {round(asset['bytes'] / 1024)} KB," in text


def test_the_busy_item_sizes_in_the_docs_are_make_bench_s():
    """docs/data-model.md says when a hit costs a second write unit with the sizes `make bench` computes."""
    from bench.items import steady_sizes

    text = (ROOT / "docs" / "data-model.md").read_text()
    for label, size in steady_sizes().items():
        assert f"**{size:,} B**" in text, label
    assert "does not spread a hot route" in text


def test_the_readme_and_the_cli_page_name_every_cli_command():
    """A command the docs leave out is one nobody finds: the README's index row and admin-cli.md name them all."""
    from route_counter.cli.cli import parser

    commands = next(a for a in parser()._actions if a.dest == "command").choices
    row = next(line for line in README.splitlines() if line.startswith("| the admin CLI:"))
    page = (ROOT / "docs" / "admin-cli.md").read_text()
    assert [c for c in commands if f"`{c}`" not in row] == [] and "`--abandon`" in row
    assert [c for c in commands if f"python -m counts {c} " not in page] == []


def test_every_opt_in_cost_is_written_as_what_it_adds():
    """An opt-in row of the cost table adds to (or takes from) the total: its figures carry their sign."""
    section = README.split("## Cost per million", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| opt-in:")]
    assert len(rows) >= 5
    for cells in rows:
        assert all(cell.strip(" |").startswith(("+$", "-$")) for cell in cells[-2:]), cells[0]
