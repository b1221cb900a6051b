"""The project's layout rules that no linter checks: where test helpers live, and what ruff counts as ours."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from helpers import ROOT

TESTS = ROOT / "tests"
BENCH = ROOT / "bench"


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names of the modules a Python file imports, wherever the import statement is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.partition(".")[0])
    return names


def top_level_modules() -> set[str]:
    """Return the project's own importable modules and packages at the top level (gunicorn.conf.py is a file)."""
    modules = {path.stem for path in ROOT.glob("*.py") if path.stem.isidentifier()}
    return modules | {path.parent.name for path in ROOT.glob("*/__init__.py")}


def test_no_test_module_imports_conftest_or_another_test_module():
    # Shared helpers live in tests/helpers.py; importing a test module runs it twice and ties tests together.
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted([*TESTS.glob("*.py"), *BENCH.glob("*.py")])
        for name in sorted(imported_modules(path))
        if name == "conftest" or name.startswith("test_")
    ]
    assert offences == [], "move what they share to tests/helpers.py"


def test_every_first_party_module_is_named_in_ruffs_known_first_party():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())
    named = set(settings["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    bench_modules = {path.stem for path in BENCH.glob("*.py")}
    imported_by_bench = set().union(*(imported_modules(path) for path in BENCH.glob("*.py"))) & bench_modules
    ours = top_level_modules() | {"conftest", "helpers"} | imported_by_bench
    assert sorted(ours - named) == [], "add these to known-first-party in pyproject.toml, or ruff sorts them as others'"
