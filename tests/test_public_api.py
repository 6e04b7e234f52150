"""`__all__` says what is public: a package's lists exactly the names it makes public (what it
imports for its users), a module's lists every public name it defines (and may add names it
re-exports), and everything listed imports."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import types
from pathlib import Path
from typing import TypeVar

import pytest

import transformer

NAMES = ["transformer", *sorted(info.name for info in pkgutil.walk_packages(transformer.__path__, "transformer.")
                                if not info.name.endswith("__main__"))]  # __main__ runs the CLI


def _defined_here(module: types.ModuleType) -> set[str]:
    """Public names the module's own top level binds (def, class, assignment); type variables
    are typing plumbing, not API."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") and not isinstance(getattr(module, n), TypeVar)}


@pytest.mark.parametrize("name", NAMES)
def test_all_lists_exactly_the_public_api(name: str) -> None:
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    assert listed is not None, f"{name} has no __all__"
    assert len(listed) == len(set(listed)), f"{name}.__all__ repeats a name"
    missing = [n for n in listed if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"
    if hasattr(module, "__path__"):  # a package: what it imports for its users, exactly
        public = {n for n, v in vars(module).items()
                  if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"}
        assert set(listed) == public, f"{name}: public but not in __all__: {sorted(public - set(listed))}"
    else:
        unlisted = _defined_here(module) - set(listed)
        assert not unlisted, f"{name} defines public names its __all__ leaves out: {sorted(unlisted)}"


def test_star_imports_give_what_all_lists() -> None:
    for name in NAMES:
        scope: dict[str, object] = {}
        exec(f"from {name} import *", scope)  # our own module names
        assert set(scope) - {"__builtins__"} == set(importlib.import_module(name).__all__), name


def test_the_readme_documents_the_top_level_api() -> None:
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## The library\n"):]
    section = section[:section.index("\n## ", 1)]
    undocumented = [n for n in transformer.__all__ if not re.search(rf"\b{n}\b", section)]
    assert not undocumented, f"README's library section does not mention {undocumented}"
