"""The house's shape (shared DESIGN.md): handler/ groups rules, web and store under thin entry points; each
kind imports only what it may, and no module of ours imports itself back through another, lazily or not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.localapi import ROOT

PACKAGES = ("handler", "infra", "local", "counts", "bench")
# What each part of handler/ may import of ours (handler.clock is the one seam of time).
MAY_IMPORT = {
    "handler.rules": ("handler.rules",),
    "handler.web": ("handler.rules", "handler.web"),
    "handler.store": ("handler.rules", "handler.store", "handler.clock"),
    "handler.clock": (),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_imports(path: Path, modules: set[str]) -> set[str]:
    """Every module of ours this file imports, at the top or inside a function (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports; packages' __init__ files hold only their docstring."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    code = {name for name, path in files.items() if path.name != "__init__.py"}
    return {name: our_imports(path, code) - {name} for name, path in files.items() if name in code}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (circle := visit(target, [*path, target])):
                return circle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module, [module])):
            return circle
    return None


def test_handler_is_grouped_by_kind_with_the_entry_points_on_top():
    top = sorted(p.name for p in (ROOT / "handler").glob("*.py"))
    assert top == ["__init__.py", "clock.py", "counter.py", "listing.py", "meter.py"]
    for kind in ("rules", "web", "store"):
        doc = ast.get_docstring(ast.parse((ROOT / "handler" / kind / "__init__.py").read_text())) or ""
        assert "import" in doc.lower(), f"handler/{kind}/__init__.py says what it may import"


def test_each_kind_imports_only_what_it_may(graph):
    for module, targets in graph.items():
        for kind, allowed in MAY_IMPORT.items():
            if module == kind or module.startswith(kind + "."):
                wrong = {t for t in targets if t.startswith("handler") and not t.startswith(allowed)} if allowed else \
                    {t for t in targets if t.startswith("handler")}
                assert not wrong, f"{module} imports {sorted(wrong)}"
    for module, targets in graph.items():  # nothing below points back up
        if module.startswith("handler"):
            assert not {t for t in targets if not t.startswith("handler")}, module


def test_no_import_circles_anywhere(graph):
    assert find_circle(graph) is None, " -> ".join(find_circle(graph) or [])


def test_the_circle_check_is_not_vacuous(graph):
    """Planted once: the seam's vocabulary importing a writer would close lean -> outcomes -> lean."""
    assert "handler.store.outcomes" in graph["handler.store.lean"]
    planted = {**graph, "handler.store.outcomes": graph["handler.store.outcomes"] | {"handler.store.lean"}}
    circle = find_circle(planted)
    assert circle is not None and set(circle) == {"handler.store.lean", "handler.store.outcomes"}
