"""The modules import each other in one direction: no circle, and nothing imports the app factory."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = {path.stem: path for path in ROOT.glob("*.py")}
ENTRY_POINTS = {"app", "gunicorn.conf"}  # they build the app; nothing else may import them


def first_party_imports(path: Path) -> set[str]:
    """Return the project's modules that ``path`` imports anywhere, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {name.split(".")[0] for name in names} & MODULES.keys()
    return found - {path.stem}


IMPORTS = {name: first_party_imports(path) for name, path in MODULES.items()}


def circles() -> list[list[str]]:
    """Return every circle of imports, as the modules in it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for imported in sorted(IMPORTS[module]):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(IMPORTS):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_another_that_imports_it_back():
    assert circles() == []


def test_nothing_imports_the_app_factory():
    importers = {name for name, imported in IMPORTS.items() if imported & ENTRY_POINTS}
    assert importers <= ENTRY_POINTS


def test_the_circle_check_finds_a_circle(monkeypatch):
    monkeypatch.setitem(IMPORTS, "markup", IMPORTS["markup"] | {"models"})
    assert ["markup", "models"] in circles()
