"""The modules import each other one way: no circle, nothing imports the factory, and the layers point downwards.

Layers, from the top: the entry points (the factory, gunicorn's config, the command line), the pages (every module
that makes a Blueprint), the rules (everything else), the storage (the schema) and the leaves (markup and the
extensions, which know nothing of the blog). A module may import its own layer and the layers below it, never
above. Run ``python tests/test_import_graph.py`` to print the graph with each module's layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"app", "gunicorn.conf", "cli", "transfer.commands"}  # they build or drive the app
FACTORY = {"app", "gunicorn.conf"}  # nothing else may import them
STORAGE = {"database", "models", "comment_counts", "slugs", "account.tables", "transfer.tables", "admin.tables"}
LEAVES = {
    "page_version",
    "personal",
    "themes",
    "avatars",
    "cachestores",
    "compression",
    "excerpts",
    "extensions",
    "highlighting",
    "image_sizes",
    "localtime",
    "markup",
    "ratelimits",
    "requestid",
    "safetext",
    "sanitizer",
    "settings",
    "sqlite_writers",
}
LAYERS = ("entry point", "page", "rule", "storage", "leaf")


def project_modules() -> dict[str, Path]:
    """Return every first-party module by dotted name: the top-level files and the modules of one-level packages."""
    modules = {path.stem: path for path in ROOT.glob("*.py")}
    for init in ROOT.glob("*/__init__.py"):
        package = init.parent
        modules[package.name] = init
        modules |= {f"{package.name}.{path.stem}": path for path in package.glob("*.py") if path != init}
    return modules


MODULES = project_modules()


def module_named(name: str) -> str | None:
    """Return the project module an import of ``name`` loads: the longest dotted prefix that is one of ours."""
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        if ".".join(parts[:length]) in MODULES:
            return ".".join(parts[:length])
    return None


def first_party_imports(module: str, path: Path) -> set[str]:
    """Return the project's modules that ``module`` imports anywhere, at the top or inside a function."""
    package = module.rpartition(".")[0] if path.name != "__init__.py" else module
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, [package, base]))
            names = [f"{base}.{alias.name}" for alias in node.names]  # `from account import pages` is a module
        found |= {module_named(name) for name in names} - {None}
    return found - {module}


IMPORTS = {name: first_party_imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    if module in ENTRY_POINTS:
        return "entry point"
    if module in LEAVES:
        return "leaf"
    if module in STORAGE:
        return "storage"
    if "Blueprint(" in MODULES[module].read_text():
        return "page"
    return "rule"


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


def upward_imports() -> list[str]:
    """Return each import that points to a higher layer than the importer's, as ``importer (layer) -> imported``."""
    rank = {module: LAYERS.index(layer_of(module)) for module in MODULES}
    return [
        f"{module} ({layer_of(module)}) -> {imported} ({layer_of(imported)})"
        for module in sorted(IMPORTS)
        for imported in sorted(IMPORTS[module])
        if rank[imported] < rank[module]
    ]


def test_no_module_imports_another_that_imports_it_back():
    assert circles() == []


def test_nothing_imports_the_app_factory():
    importers = {name for name, imported in IMPORTS.items() if imported & FACTORY}
    assert importers <= FACTORY


def test_every_import_points_to_the_same_layer_or_a_lower_one():
    assert upward_imports() == []


def test_the_circle_check_finds_a_circle(monkeypatch):
    monkeypatch.setitem(IMPORTS, "markup", IMPORTS["markup"] | {"models"})
    assert ["markup", "models"] in circles()


def test_the_layer_check_finds_the_schema_importing_a_rule(monkeypatch):
    monkeypatch.setitem(IMPORTS, "models", IMPORTS["models"] | {"reading"})
    assert "models (storage) -> reading (rule)" in upward_imports()


def test_the_graph_sees_the_modules_inside_packages():
    assert {"transfer.wordpress", "account.tables"} <= MODULES.keys()
    assert "account.tables" in IMPORTS["models"] | set().union(*IMPORTS.values())


if __name__ == "__main__":
    for name in sorted(IMPORTS, key=lambda module: (LAYERS.index(layer_of(module)), module)):
        lines = len(MODULES[name].read_text().splitlines())
        print(f"{layer_of(name):>11}  {name:<22} {lines:>4}  -> {' '.join(sorted(IMPORTS[name])) or '(nothing)'}")
