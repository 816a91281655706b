"""The house's shape (shared DESIGN.md): route_counter/handler/ groups rules, web and store under thin entry
points; each kind imports only what it may (relatively, so the same files import as the zip's `handler/`
and as `route_counter.handler`), and no module of ours imports itself back through another, lazily or not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.localapi import ROOT

PACKAGES = ("route_counter", "local", "counts", "bench")
H = "route_counter.handler"
HANDLER = ROOT / "route_counter" / "handler"
# What each part of handler/ may import of ours (handler.clock is the one seam of time).
MAY_IMPORT = {
    f"{H}.rules": (f"{H}.rules",),
    f"{H}.web": (f"{H}.rules", f"{H}.web"),
    f"{H}.store": (f"{H}.rules", f"{H}.store", f"{H}.clock"),
    f"{H}.clock": (),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_imports(path: Path, modules: set[str]) -> set[str]:
    """Every module of ours this file imports, at the top or inside a function (lazy imports count),
    relative imports resolved."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
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
    top = sorted(p.name for p in HANDLER.glob("*.py"))
    assert top == ["__init__.py", "clock.py", "counter.py", "listing.py", "meter.py"]
    for kind in ("rules", "web", "store"):
        doc = ast.get_docstring(ast.parse((HANDLER / kind / "__init__.py").read_text())) or ""
        assert "import" in doc.lower(), f"handler/{kind}/__init__.py says what it may import"


def test_each_kind_imports_only_what_it_may(graph):
    for module, targets in graph.items():
        for kind, allowed in MAY_IMPORT.items():
            if module == kind or module.startswith(kind + "."):
                wrong = {t for t in targets if t.startswith(H) and not t.startswith(allowed)} if allowed else \
                    {t for t in targets if t.startswith(H)}
                assert not wrong, f"{module} imports {sorted(wrong)}"
    for module, targets in graph.items():  # nothing below points back up
        if module.startswith(H):
            assert not {t for t in targets if not t.startswith(H)}, module


def test_the_lambda_code_imports_itself_only_relatively():
    """Inside the zip the package is `handler`, in the library `route_counter.handler`: an absolute import
    of either name would break the other."""
    for path in HANDLER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            assert not [n for n in names if n.split(".")[0] in ("handler", "route_counter")], path


def test_no_import_circles_anywhere(graph):
    assert find_circle(graph) is None, " -> ".join(find_circle(graph) or [])


def test_the_circle_check_is_not_vacuous(graph):
    """Planted once: the seam's vocabulary importing a writer would close lean -> outcomes -> lean."""
    assert f"{H}.store.outcomes" in graph[f"{H}.store.lean"]
    planted = {**graph, f"{H}.store.outcomes": graph[f"{H}.store.outcomes"] | {f"{H}.store.lean"}}
    circle = find_circle(planted)
    assert circle is not None and set(circle) == {f"{H}.store.lean", f"{H}.store.outcomes"}
